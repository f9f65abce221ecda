-- One database per component on the shared PostgreSQL server (docs/deploy.md):
-- optuna (studies: optimize.storage), mlflow (tracking: mlflow server's backend store) and
-- events (live event logs: live.event_store), all owned by the grekko role the server creates.
CREATE DATABASE optuna OWNER grekko;
CREATE DATABASE mlflow OWNER grekko;
CREATE DATABASE events OWNER grekko;
