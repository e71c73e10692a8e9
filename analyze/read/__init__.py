"""Read: capture folders and MONITOR logs in; sources (labelled per node), their health and chunks of lines within the time window out."""
