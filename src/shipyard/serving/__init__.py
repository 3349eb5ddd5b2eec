"""Serving: deployments (routes, shadows, sticky keys, history), traffic splitting and batch scoring.
The inference server builds on these."""

from shipyard.serving._batch import BatchReport, score_file
from shipyard.serving._deployments import Deployments, DeploymentStatus
from shipyard.serving._fluent import deploy, deployment_at, deployments, promote, rollback, status
from shipyard.serving._routing import Router

__all__ = ["BatchReport", "DeploymentStatus", "Deployments", "Router", "deploy", "deployment_at", "deployments", "promote",
           "rollback", "score_file", "status"]
