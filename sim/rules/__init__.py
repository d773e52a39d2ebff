"""Pure rule functions: each computes one thing from its inputs, with a worked test."""
