"""Keys: each command's arguments in (key specs from the server's COMMAND reply); its keys, their cluster slot and key pattern out."""
