# The MLflow artifact store: catalog versions (registered models) and run artifacts.
#
# Versioning keeps every overwritten or deleted object as a noncurrent version, so a mistake
# (a deleted run, an overwritten model file) can be undone. The lifecycle rules only ever delete
# those noncurrent versions, after an age or beyond a count; live objects (the artifacts that
# the registered catalog versions point at) are never deleted by a rule.

resource "google_storage_bucket" "artifacts" {
  name     = var.bucket_name
  project  = var.project
  location = var.region

  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  versioning {
    enabled = true
  }

  # A version that stopped being live more than N days ago goes.
  lifecycle_rule {
    condition {
      with_state                 = "ARCHIVED"
      days_since_noncurrent_time = var.noncurrent_version_age_days
    }
    action {
      type = "Delete"
    }
  }

  # A noncurrent version with K newer versions (the live one included) goes, whatever its age.
  lifecycle_rule {
    condition {
      with_state         = "ARCHIVED"
      num_newer_versions = var.versions_kept
    }
    action {
      type = "Delete"
    }
  }

  labels = {
    app       = "personamap"
    component = "mlflow-artifacts"
  }
}

# The identity of the MLflow server: it proxies every artifact upload and download
# (`mlflow server --serve-artifacts`), so no other component needs bucket access.
resource "google_service_account" "mlflow" {
  project      = var.project
  account_id   = var.service_account_id
  display_name = "personamap MLflow artifact store"
  description  = "Reads and writes MLflow artifacts in gs://${var.bucket_name} only."
}

# Object admin on this bucket only: a bucket-level binding, never a project-level role.
resource "google_storage_bucket_iam_member" "mlflow_object_admin" {
  bucket = google_storage_bucket.artifacts.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.mlflow.email}"
}
