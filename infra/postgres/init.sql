-- Run once by the postgres image on an empty data volume (mounted into /docker-entrypoint-initdb.d):
-- one server, two databases, both owned by POSTGRES_USER.
CREATE DATABASE prefect;
CREATE DATABASE mlflow;
