"""The linter: rules with stable codes, suppressions, settings and output formats."""
