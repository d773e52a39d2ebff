"""The Surge model: agents, rules, markets, ledger and parameters."""
