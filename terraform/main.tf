# The Test Observer API charm with its database and, optionally, its ingress.

resource "juju_application" "test_observer" {
  name        = var.app_name
  model_uuid  = var.model_uuid
  units       = var.units
  constraints = var.constraints

  charm {
    name     = "test-observer-api"
    channel  = var.channel
    revision = var.revision
    base     = var.base
  }

  config    = var.config
  resources = var.resources
}

resource "juju_integration" "database" {
  count      = var.database == null ? 0 : 1
  model_uuid = var.model_uuid

  application {
    name     = juju_application.test_observer.name
    endpoint = "database"
  }

  application {
    name      = var.database.name
    offer_url = var.database.offer_url
    endpoint  = var.database.endpoint
  }
}

resource "juju_integration" "ingress" {
  count      = var.ingress == null ? 0 : 1
  model_uuid = var.model_uuid

  application {
    name     = juju_application.test_observer.name
    endpoint = "ingress"
  }

  application {
    name      = var.ingress.name
    offer_url = var.ingress.offer_url
    endpoint  = var.ingress.endpoint
  }
}
