output "app_name" {
  description = "Name of the deployed application."
  value       = juju_application.test_observer.name
}

output "provides" {
  description = "Endpoints other applications integrate with."
  value = {
    test_observer_rest_api = "test-observer-rest-api"
    metrics_endpoint       = "metrics-endpoint"
    grafana_dashboard      = "grafana-dashboard"
  }
}

output "requires" {
  description = "Endpoints this application integrates with."
  value = {
    database    = "database"
    ingress     = "ingress"
    nginx_route = "nginx-route"
    logging     = "logging"
    tracing     = "tracing"
  }
}
