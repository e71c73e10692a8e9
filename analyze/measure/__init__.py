"""Measure: the server's own counters in (INFO, CLUSTER SLOT-STATS, CloudWatch); measured bytes out and the self-check of the estimate out."""
