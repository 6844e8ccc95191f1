"""The published event contracts: envelope metadata, the event catalogue of all six services, their
versions and upcasters, and their Kafka form (CloudEvents, binary mode)."""
