"""batchd's wire protocol: messages, codec, error codes and versions. Pure: no sockets, no files."""
