"""Estimate: each command with its keys and sampled sizes in; the bytes its reply sent back (the reply-size estimate, through the window) out."""
