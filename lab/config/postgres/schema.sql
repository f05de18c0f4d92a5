-- The runbooks' tables (saga orchestrator + task scheduler), as the lab's application uses them.
CREATE TABLE saga_executions (
    id             bigserial PRIMARY KEY,
    saga_id        text NOT NULL UNIQUE,
    saga_name      text NOT NULL,
    status         text NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'RETRY_PENDING')),
    error_message  text,
    correlation_id text,
    retry_count    integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX saga_executions_status_updated ON saga_executions (status, updated_at);

CREATE TABLE idempotent_operations (
    id            bigserial PRIMARY KEY,
    operation_key text NOT NULL UNIQUE,
    status        text NOT NULL DEFAULT 'ACCEPTED',
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE worker_heartbeat (
    worker_id       text PRIMARY KEY,
    last_seen       timestamptz NOT NULL DEFAULT now(),
    processed_count bigint NOT NULL DEFAULT 0
);

CREATE TABLE due_work (
    id           bigserial PRIMARY KEY,
    payload      jsonb,
    run_at       timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    locked_by    text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX due_work_run_at ON due_work (run_at);

CREATE TABLE task_run (
    id          bigserial PRIMARY KEY,
    due_work_id bigint,
    worker_id   text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    success     boolean
);

CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    action    text NOT NULL,
    detail    jsonb,
    source_ip text
);
CREATE INDEX audit_log_at ON audit_log (at);

INSERT INTO audit_log (actor, action, detail, source_ip)
VALUES ('lab-init', 'schema.created', '{"tables": 6}', '127.0.0.1');
