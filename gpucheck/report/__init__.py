"""Stage 3: render a finished report (console, JSON, JUnit XML, Markdown); the only stage that uses rich."""
