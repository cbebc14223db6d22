"""Events between services: the bus (embedded and NATS JetStream), the relay from
outbox to bus, the consumer into the inbox, and replicas kept from events."""
