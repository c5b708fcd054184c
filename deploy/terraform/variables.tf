variable "project" {
  description = "Google Cloud project id that owns the bucket and the service account."
  type        = string
}

variable "region" {
  description = "Location of the bucket: a region (e.g. europe-west1) or a multi-region (EU)."
  type        = string
  default     = "europe-west1"
}

variable "bucket_name" {
  description = "Globally unique name of the MLflow artifact bucket."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "A bucket name is 3-63 characters of lowercase letters, digits, dots, dashes and underscores, starting and ending with a letter or digit."
  }
}

variable "noncurrent_version_age_days" {
  description = "Days after it stopped being the live version that an overwritten or deleted artifact version is deleted."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_age_days >= 1
    error_message = "Keep noncurrent versions for at least one day."
  }
}

variable "versions_kept" {
  description = "Versions of an object kept whatever their age: the live one and the newest noncurrent ones; older noncurrent versions are deleted."
  type        = number
  default     = 4

  validation {
    condition     = var.versions_kept >= 2
    error_message = "Keep at least the live version and one noncurrent version."
  }
}

variable "service_account_id" {
  description = "Account id (the part before @) of the service account the MLflow server uses."
  type        = string
  default     = "personamap-mlflow"
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a bucket that still holds artifacts (keep false in production)."
  type        = bool
  default     = false
}
