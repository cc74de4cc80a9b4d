"""SMS senders (``services.ports.SmsSender``): Amazon SNS in AWS, an HTTP outbox locally."""
