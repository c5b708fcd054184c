output "artifact_uri" {
  description = "Value for MLFLOW_ARTIFACTS_DESTINATION in deploy/.env."
  value       = "gs://${google_storage_bucket.artifacts.name}"
}

output "service_account_email" {
  description = "The account the MLflow server runs as (attach it, or make a key for it)."
  value       = google_service_account.mlflow.email
}
