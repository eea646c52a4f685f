"""Stream ingestion: lenders publish events to NATS JetStream, ``lendguard worker`` decides
them through the same decision service as the HTTP API (see :mod:`lendguard.stream.worker`)."""
