"""Commands: one module per subcommand (analyze, check, diff, query), each run from the CLI with its options."""
