variable "model_uuid" {
  description = "UUID of the Juju model to deploy into (for example juju_model.this.uuid)."
  type        = string
}

variable "app_name" {
  description = "Name of the application in the model."
  type        = string
  default     = "test-observer-api"
}

variable "channel" {
  description = "Charmhub channel of the charm."
  type        = string
  default     = "latest/edge"
}

variable "revision" {
  description = "Charm revision; null follows the channel."
  type        = number
  default     = null
}

variable "base" {
  description = "Base the charm runs on."
  type        = string
  default     = "ubuntu@24.04"
}

variable "units" {
  description = "Number of units."
  type        = number
  default     = 1
}

variable "constraints" {
  description = <<-EOT
    Juju constraints of the units, for example "cores=2 mem=2G". On Kubernetes, `mem`
    becomes the workload container's memory limit and `cores` its CPU request.
  EOT
  type        = string
  default     = null
}

variable "config" {
  description = "Charm options (see the charm reference), for example { port = \"30000\" }."
  type        = map(string)
  default     = {}
}

variable "resources" {
  description = "OCI resources, for example { api-image = \"registry/test-observer:TAG\" }."
  type        = map(string)
  default     = {}
}

variable "database" {
  description = <<-EOT
    The PostgreSQL provider to integrate with: an application in the same model
    (name = "postgresql-k8s") or a cross-model offer (offer_url = "admin/db.postgresql").
    Null leaves the integration to the caller.
  EOT
  type = object({
    name      = optional(string)
    offer_url = optional(string)
    endpoint  = optional(string, "database")
  })
  default = null
}

variable "ingress" {
  description = "The ingress provider (for example traefik-k8s), as for `database`; null for none."
  type = object({
    name      = optional(string)
    offer_url = optional(string)
    endpoint  = optional(string, "ingress")
  })
  default = null
}
