"""Evidence sources: one module per source; each registers its collectors with ``@collector``."""
