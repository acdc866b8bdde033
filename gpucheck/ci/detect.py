"""Which CI system doctor runs under, from the variables the CI sets (``--ci`` overrides it)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum


class CiSystem(str, Enum):
    """The CI systems gpucheck speaks natively."""

    GITHUB = "github"
    """GitHub Actions: workflow-command annotations and the job summary."""
    GITLAB = "gitlab"
    """GitLab CI: a collapsible log section and a JUnit report for ``artifacts:reports:junit``."""
    NONE = "none"
    """No CI output."""


def detect_ci(env: Mapping[str, str]) -> CiSystem:
    """The CI system that set these variables.

    NOTE: both CIs document their marker as the literal string ``true``: GitHub sets ``GITHUB_ACTIONS=true``
    (https://docs.github.com/en/actions/reference/variables-reference) and GitLab ``GITLAB_CI=true``
    (https://docs.gitlab.com/ci/variables/predefined_variables/).
    """
    if env.get("GITHUB_ACTIONS") == "true":
        return CiSystem.GITHUB
    if env.get("GITLAB_CI") == "true":
        return CiSystem.GITLAB
    return CiSystem.NONE


def resolve_ci(choice: str, env: Mapping[str, str]) -> CiSystem:
    """``--ci auto`` detects from ``env``; any other choice is taken as given."""
    return detect_ci(env) if choice == "auto" else CiSystem(choice)
