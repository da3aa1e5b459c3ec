"""Human-readable outputs of hwprune runs: Markdown reports with matplotlib plots."""
