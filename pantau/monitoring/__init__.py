"""What operators watch: alerts with acknowledgement and Prometheus metrics."""
