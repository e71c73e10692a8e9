"""Commands: one module per subcommand (analyze, check, diff, plan, query), each run from the CLI with its options; analyze.py only sequences the stages."""
