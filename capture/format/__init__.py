"""The capture folder's format, shared by both halves: what capture writes and analyze reads."""
