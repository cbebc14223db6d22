"""The ground floor: event contracts and envelopes, references between services,
settings, tracing, task helpers, failpoints and logging. Imports nothing of the
platform above it."""
