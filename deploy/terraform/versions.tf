terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.0, < 8.0"
    }
  }

  # Remote state. Kept local by default so that `terraform init` works on a machine with no
  # bucket yet. For a team, keep the state in a separate, versioned bucket (not the artifact
  # bucket this configuration manages, which would then hold the state of its own definition),
  # then run `terraform init -migrate-state`:
  #
  # backend "gcs" {
  #   bucket = "my-company-terraform-state"
  #   prefix = "personamap/mlflow-artifacts"
  # }
}

provider "google" {
  project = var.project
  region  = var.region
}
