"""The corpus: each package, how its database is built, and what validate must say about it.

Every expected finding was adjudicated by reading the catalog the build produced
(``pg_dump --schema-only`` of the database against the models' ``create_all``). A finding on
a database built by a package's own migrations is a real drift between those migrations and
the package's models; the comment next to it says what the catalog holds and why. A build
with no finding is expected clean: anything reported there is a false positive.

Drifts are raw SQL applied to a copy of one built database; each names the findings it adds
(and those it takes away) relative to that database's own report.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.real.corpus import (
    COLLATION_MISMATCH,
    COMMENT_MISMATCH,
    ENUM_LABEL_EXTRA,
    ENUM_LABEL_MISSING,
    EXTRA_SEQUENCE,
    MISSING_SEQUENCE,
    SETTINGS,
    Drift,
    Finding,
    alembic_upgrade,
    create_all,
    django_migrate,
    drift,
    error,
    sqlalchemy_url,
    warning,
)


@dataclass(frozen=True)
class Corpus:
    """One package (or the Django settings): its project keys, builds and expectations."""

    name: str
    project: Mapping[str, str]
    sources: str
    builds: Mapping[str, Callable[[str], None]]
    expected: Mapping[str, frozenset[Finding]]
    drift_build: str
    drifts: tuple[Drift, ...]


def package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin).parent


# -- optuna: declarative models and an Alembic environment ------------------------------------

OPTUNA_METADATA = "optuna.storages._rdb.models:BaseModel.metadata"


def optuna_migrations(url: str) -> None:
    here = package_dir("optuna.storages._rdb")
    alembic_upgrade(url, here / "alembic.ini", here / "alembic", "head")


OPTUNA = Corpus(
    name="optuna",
    project={"sa_metadata": OPTUNA_METADATA},
    sources="sqlalchemy,database",
    builds={
        "create_all": lambda url: create_all(url, OPTUNA_METADATA),
        "migrations": optuna_migrations,
    },
    expected={
        "create_all": frozenset(),
        "migrations": frozenset(
            {
                # No revision creates trial_heartbeats (RDBStorage adds it with create_all
                # when it opens a storage).
                error("missing_table", "trial_heartbeats"),
                # v0.9.0.a creates trial_values.trial_id nullable and no later revision
                # changes it; the model says nullable=False.
                error("nullability_mismatch", "trial_values.trial_id"),
                # TrialState gained WAITING, but no revision runs ALTER TYPE trialstate
                # ADD VALUE: the catalog's labels are RUNNING, COMPLETE, PRUNED, FAIL (the
                # model's order with WAITING last, so the shared labels keep their order).
                error(ENUM_LABEL_MISSING, "trialstate"),
                # v2.4.0.a names the unique constraint uq_trial_values_trial_id_objective;
                # the model's is unnamed (PostgreSQL's default trial_values_trial_id_objective_key).
                warning("name_mismatch", "trial_values.trial_values_trial_id_objective_key"),
                # v3.2.0.a creates the index as trials_study_id_key; the model's
                # index=True names it ix_trials_study_id.
                warning("name_mismatch", "trials.ix_trials_study_id"),
            }
        ),
    },
    drift_build="create_all",
    drifts=(
        drift(
            "drop_index",
            "DROP INDEX ix_trials_study_id",
            error("missing_index", "trials.ix_trials_study_id"),
        ),
        drift(
            "drop_serial_table",
            "DROP TABLE trial_user_attributes",
            error("missing_table", "trial_user_attributes"),
        ),
        drift(
            "drop_unique",
            "ALTER TABLE trial_params DROP CONSTRAINT trial_params_trial_id_param_name_key",
            error("missing_constraint", "trial_params.trial_params_trial_id_param_name_key"),
        ),
        drift(
            "drop_fk",
            "ALTER TABLE trial_values DROP CONSTRAINT trial_values_trial_id_fkey",
            error("missing_constraint", "trial_values.trial_values_trial_id_fkey"),
        ),
        drift(
            "change_type",
            "ALTER TABLE studies ALTER COLUMN study_name TYPE varchar(256)",
            error("type_mismatch", "studies.study_name"),
        ),
        drift(
            "set_default",
            "ALTER TABLE trials ALTER COLUMN number SET DEFAULT 0",
            error("default_mismatch", "trials.number"),
        ),
        drift(
            "set_not_null",
            "ALTER TABLE trial_system_attributes ALTER COLUMN key SET NOT NULL",
            error("nullability_mismatch", "trial_system_attributes.key"),
        ),
        drift(
            "change_collation",
            'ALTER TABLE study_user_attributes ALTER COLUMN key TYPE varchar(512) COLLATE "C"',
            error(COLLATION_MISMATCH, "study_user_attributes.key"),
        ),
        drift(
            "add_comment",
            "COMMENT ON COLUMN trials.datetime_start IS 'when the trial started'",
            warning(COMMENT_MISMATCH, "trials.datetime_start"),
        ),
        drift(
            # The catalog's labels become UNSET, MINIMIZE, MAXIMIZE: NOT_SET is missing (an
            # error: writing it fails), UNSET extra (a warning: rows holding it cannot be
            # read); MINIMIZE, MAXIMIZE keep their order.
            "rename_enum_label",
            "ALTER TYPE studydirection RENAME VALUE 'NOT_SET' TO 'UNSET'",
            error(ENUM_LABEL_MISSING, "studydirection"),
            warning(ENUM_LABEL_EXTRA, "studydirection"),
        ),
        drift(
            "rename_column",
            "ALTER TABLE trials RENAME COLUMN datetime_complete TO datetime_finished",
            error("missing_column", "trials.datetime_complete"),
            error("extra_column", "trials.datetime_finished"),
        ),
        drift(
            "rename_serial_sequence",
            "ALTER SEQUENCE trial_params_param_id_seq RENAME TO trial_params_param_id_seq1",
            error("default_mismatch", "trial_params.param_id"),
        ),
        drift(
            "make_fk_deferrable",
            "ALTER TABLE trial_heartbeats ALTER CONSTRAINT trial_heartbeats_trial_id_fkey "
            "DEFERRABLE INITIALLY DEFERRED",
            error("constraint_mismatch", "trial_heartbeats.trial_heartbeats_trial_id_fkey"),
        ),
    ),
)


# -- MLflow: declarative models, an Alembic environment and its own upgrade function -----------

MLFLOW_METADATA = "mlflow.store.db.utils:Base.metadata"


def mlflow_upgrade(url: str) -> None:
    """MLflow's own schema set-up: its initial tables, then ``alembic upgrade heads``."""
    import sqlalchemy as sa
    from mlflow.store.db.utils import _initialize_tables

    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()


def _mlflow_fk_names() -> frozenset[Finding]:
    """MLflow's revisions name the foreign keys their models leave unnamed.

    Each entry: (table, the model's default name); the catalog holds the revision's
    ``fk_...`` name over the same columns and target, so only the name differs.
    """
    defaults = {
        "assessments": ["assessments_trace_id_fkey"],
        "datasets": ["datasets_experiment_id_fkey"],
        "endpoint_bindings": ["endpoint_bindings_endpoint_id_fkey"],
        "endpoint_model_mappings": [
            "endpoint_model_mappings_endpoint_id_fkey",
            "endpoint_model_mappings_model_definition_id_fkey",
        ],
        "endpoint_tags": ["endpoint_tags_endpoint_id_fkey"],
        "endpoints": ["endpoints_experiment_id_fkey"],
        "issues": ["issues_experiment_id_fkey", "issues_source_run_id_fkey"],
        "job_locks": ["job_locks_job_id_fkey"],
        "label_schemas": ["label_schemas_experiment_id_fkey"],
        "model_definitions": ["model_definitions_secret_id_fkey"],
        "model_version_tags": ["model_version_tags_workspace_name_version_fkey"],
        "model_versions": ["model_versions_workspace_name_fkey"],
        "online_scoring_configs": [
            "online_scoring_configs_experiment_id_fkey",
            "online_scoring_configs_scorer_id_fkey",
        ],
        "registered_model_aliases": ["registered_model_alias_registered_model_fkey"],
        "registered_model_tags": ["registered_model_tags_workspace_name_fkey"],
        "review_queue_items": ["review_queue_items_queue_id_fkey"],
        "review_queue_label_schemas": ["review_queue_label_schemas_queue_id_fkey"],
        "review_queue_users": ["review_queue_users_queue_id_fkey"],
        "review_queues": ["review_queues_experiment_id_fkey"],
        "scorer_versions": ["scorer_versions_scorer_id_fkey"],
        "scorers": ["scorers_experiment_id_fkey"],
        "trace_info": ["trace_info_experiment_id_fkey"],
        "trace_metrics": ["trace_metrics_request_id_fkey"],
        "trace_request_metadata": ["trace_request_metadata_request_id_fkey"],
        "trace_tags": ["trace_tags_request_id_fkey"],
    }
    return frozenset(
        warning("name_mismatch", f"{table}.{name}")
        for table, names in defaults.items()
        for name in names
    )


MLFLOW_MIGRATIONS = (
    frozenset(
        {
            # Server defaults the revisions set and the models do not declare (the models give
            # Python-side defaults only).
            error("default_mismatch", "endpoint_model_mappings.linkage_type"),
            error("default_mismatch", "endpoints.usage_tracking"),
            error("default_mismatch", "metrics.is_nan"),
            error("default_mismatch", "metrics.step"),
            error("default_mismatch", "webhooks.status"),
            # Indexes revision 1b5f0d9ad7c1 (workspaces) creates and no model declares.
            error("extra_index", "experiments.idx_experiments_workspace"),
            error("extra_index", "experiments.idx_experiments_workspace_creation_time"),
            error(
                "extra_index", "model_version_tags.idx_model_version_tags_workspace_name_version"
            ),
            error("extra_index", "registered_model_tags.idx_registered_model_tags_workspace_name"),
            error("extra_index", "registered_models.idx_registered_models_workspace"),
            # The models declare Index("index_<table>_request_id") with no column at all (no
            # CREATE INDEX could build it); the revision indexes request_id.
            error(
                "index_mismatch", "trace_request_metadata.index_trace_request_metadata_request_id"
            ),
            error("index_mismatch", "trace_tags.index_trace_tags_request_id"),
            # The models declare the FK on dataset_id twice: ForeignKey() on the column (unnamed,
            # evaluation_<...>_dataset_id_fkey) and a ForeignKeyConstraint named fk_evaluation_<...>
            # in __table_args__ (create_all builds both); the revisions create the named one only.
            error(
                "missing_constraint",
                "evaluation_dataset_records.evaluation_dataset_records_dataset_id_fkey",
            ),
            error(
                "missing_constraint",
                "evaluation_dataset_tags.evaluation_dataset_tags_dataset_id_fkey",
            ),
            # input_tags.input_uuid REFERENCES inputs (input_uuid) cannot exist: inputs.input_uuid
            # is not unique (the server refuses it, which is also why create_all of these models
            # fails); no revision creates it.
            error("missing_constraint", "input_tags.input_tags_input_uuid_fkey"),
            # The model declares Index("index_issues_created_by"); no revision creates it.
            error("missing_index", "issues.index_issues_created_by"),
            # The revision names the key assessments_pk; the model leaves it unnamed.
            warning("name_mismatch", "assessments.assessments_pkey"),
            # The revisions build these keys as (key, request_id); the models say
            # PrimaryKeyConstraint("request_id", "key"): a different index column order.
            error("primary_key_mismatch", "trace_request_metadata"),
            error("primary_key_mismatch", "trace_tags"),
            # 770bee3ae1dd creates assessment_type as varchar(20); cfd24bdc0731 turns
            # runs.status into a non-native Enum, varchar(9) (its longest label, SCHEDULED).
            # The models say String(50) and String(20).
            error("type_mismatch", "assessments.assessment_type"),
            error("type_mismatch", "runs.status"),
        }
    )
    | _mlflow_fk_names()
)


MLFLOW = Corpus(
    name="mlflow",
    project={"sa_metadata": MLFLOW_METADATA},
    sources="sqlalchemy,database",
    # No create_all build: the models declare input_tags.input_uuid REFERENCES
    # inputs (input_uuid) over a column without a unique constraint, which PostgreSQL
    # refuses; MLflow only ever builds its schema through its revisions.
    builds={"migrations": mlflow_upgrade},
    expected={"migrations": MLFLOW_MIGRATIONS},
    drift_build="migrations",
    drifts=(
        drift(
            "drop_index",
            "DROP INDEX index_params_run_uuid",
            error("missing_index", "params.index_params_run_uuid"),
        ),
        drift(
            "drop_table",
            "DROP TABLE experiment_tags",
            error("missing_table", "experiment_tags"),
        ),
        drift(
            "drop_unique",
            "ALTER TABLE experiments DROP CONSTRAINT uq_experiments_workspace_name",
            error("missing_constraint", "experiments.uq_experiments_workspace_name"),
        ),
        drift(
            "drop_fk",
            "ALTER TABLE tags DROP CONSTRAINT tags_run_uuid_fkey",
            error("missing_constraint", "tags.tags_run_uuid_fkey"),
        ),
        drift(
            "change_type",
            "ALTER TABLE runs ALTER COLUMN artifact_uri TYPE varchar(400)",
            error("type_mismatch", "runs.artifact_uri"),
        ),
        drift(
            "set_default",
            "ALTER TABLE runs ALTER COLUMN end_time SET DEFAULT 0",
            error("default_mismatch", "runs.end_time"),
        ),
        drift(
            "set_not_null",
            "ALTER TABLE runs ALTER COLUMN user_id SET NOT NULL",
            error("nullability_mismatch", "runs.user_id"),
        ),
        drift(
            "change_collation",
            'ALTER TABLE runs ALTER COLUMN name TYPE varchar(250) COLLATE "C"',
            error(COLLATION_MISMATCH, "runs.name"),
        ),
        drift(
            "add_comment",
            "COMMENT ON TABLE metrics IS 'one row per logged value'",
            warning(COMMENT_MISMATCH, "metrics"),
        ),
        drift(
            "rename_column",
            "ALTER TABLE runs RENAME COLUMN source_version TO source_revision",
            error("missing_column", "runs.source_version"),
            error("extra_column", "runs.source_revision"),
        ),
        drift(
            "rename_serial_sequence",
            "ALTER SEQUENCE experiments_experiment_id_seq RENAME TO experiments_id_seq",
            error("default_mismatch", "experiments.experiment_id"),
        ),
        drift(
            "make_fk_deferrable",
            "ALTER TABLE params ALTER CONSTRAINT params_run_uuid_fkey "
            "DEFERRABLE INITIALLY DEFERRED",
            error("constraint_mismatch", "params.params_run_uuid_fkey"),
        ),
    ),
)


# -- Flask-AppBuilder: the security models (create_all; explicit Sequence keys) ---------------

FAB_METADATA = "flask_appbuilder.security.sqla.models:Model.metadata"

FLASK_APPBUILDER = Corpus(
    name="flask_appbuilder",
    project={"sa_metadata": FAB_METADATA},
    sources="sqlalchemy,database",
    builds={"create_all": lambda url: create_all(url, FAB_METADATA)},
    expected={"create_all": frozenset()},
    drift_build="create_all",
    drifts=(
        drift(
            "drop_index",
            "DROP INDEX idx_api_key_prefix",
            error("missing_index", "ab_api_key.idx_api_key_prefix"),
        ),
        drift(
            "drop_table",
            "DROP TABLE ab_register_user",
            error("missing_table", "ab_register_user"),
        ),
        drift(
            "drop_unique",
            "ALTER TABLE ab_role DROP CONSTRAINT ab_role_name_key",
            error("missing_constraint", "ab_role.ab_role_name_key"),
        ),
        drift(
            # The same rows are refused, but the constraint is gone: both ORMs' migrations
            # later run DROP CONSTRAINT ab_permission_name_key, which fails on an index. One
            # error for the one object, no separate extra_index.
            "unique_constraint_to_index",
            "ALTER TABLE ab_permission DROP CONSTRAINT ab_permission_name_key; "
            "CREATE UNIQUE INDEX ab_permission_name_key ON ab_permission (name)",
            error("constraint_mismatch", "ab_permission.ab_permission_name_key"),
        ),
        drift(
            "drop_fk",
            "ALTER TABLE ab_user DROP CONSTRAINT ab_user_created_by_fk_fkey",
            error("missing_constraint", "ab_user.ab_user_created_by_fk_fkey"),
        ),
        drift(
            "change_type",
            "ALTER TABLE ab_user ALTER COLUMN first_name TYPE varchar(32)",
            error("type_mismatch", "ab_user.first_name"),
        ),
        drift(
            "set_default",
            "ALTER TABLE ab_api_key ALTER COLUMN active SET DEFAULT true",
            error("default_mismatch", "ab_api_key.active"),
        ),
        drift(
            "set_not_null",
            "ALTER TABLE ab_group ALTER COLUMN label SET NOT NULL",
            error("nullability_mismatch", "ab_group.label"),
        ),
        drift(
            "change_collation",
            'ALTER TABLE ab_view_menu ALTER COLUMN name TYPE varchar(250) COLLATE "C"',
            error(COLLATION_MISMATCH, "ab_view_menu.name"),
        ),
        drift(
            "add_comment",
            "COMMENT ON TABLE ab_permission IS 'what a role may do'",
            warning(COMMENT_MISMATCH, "ab_permission"),
        ),
        drift(
            "rename_column",
            "ALTER TABLE ab_user RENAME COLUMN last_login TO last_seen",
            error("missing_column", "ab_user.last_login"),
            error("extra_column", "ab_user.last_seen"),
        ),
        drift(
            # Sequence("ab_user_id_seq") is a schema object of the models: the application's
            # INSERTs call nextval('ab_user_id_seq'), which no longer exists; the catalog's
            # ab_user_id_seq_old is a standalone sequence no model declares.
            "rename_model_sequence",
            "ALTER SEQUENCE ab_user_id_seq RENAME TO ab_user_id_seq_old",
            error(MISSING_SEQUENCE, "ab_user_id_seq"),
            warning(EXTRA_SEQUENCE, "ab_user_id_seq_old"),
        ),
        drift(
            "drop_model_sequence",
            "DROP SEQUENCE ab_group_id_seq",
            error(MISSING_SEQUENCE, "ab_group_id_seq"),
        ),
        drift(
            "make_fk_deferrable",
            "ALTER TABLE ab_user_role ALTER CONSTRAINT ab_user_role_role_id_fkey "
            "DEFERRABLE INITIALLY DEFERRED",
            error("constraint_mismatch", "ab_user_role.ab_user_role_role_id_fkey"),
        ),
    ),
)


# -- Django: contrib and third-party apps, migrated by Django ----------------------------------

DJANGO = Corpus(
    name="django",
    project={"django_settings": SETTINGS},
    sources="django,database",
    builds={"migrate": django_migrate},
    expected={
        "migrate": frozenset(
            {
                # sites 0002 adds unique=True by AlterField, which names the constraint
                # django_site_domain_a2e37b91_uniq; the model alone gives PostgreSQL's
                # inline default django_site_domain_key.
                warning("name_mismatch", "django_site.django_site_domain_key"),
                # Same for oauth2_provider 0012 (token_checksum made unique by AlterField).
                warning(
                    "name_mismatch",
                    "oauth2_provider_accesstoken.oauth2_provider_accesstoken_token_checksum_key",
                ),
            }
        )
    },
    drift_build="migrate",
    drifts=(
        drift(
            "drop_index",
            "DROP INDEX django_session_expire_date_a5c62663",
            error("missing_index", "django_session.django_session_expire_date_a5c62663"),
        ),
        drift(
            "drop_table",
            "DROP TABLE axes_accesslog",
            error("missing_table", "axes_accesslog"),
        ),
        drift(
            "drop_unique",
            "ALTER TABLE auth_group DROP CONSTRAINT auth_group_name_key",
            error("missing_constraint", "auth_group.auth_group_name_key"),
        ),
        drift(
            "drop_fk",
            "ALTER TABLE authtoken_token "
            "DROP CONSTRAINT authtoken_token_user_id_35299eff_fk_auth_user_id",
            error(
                "missing_constraint",
                "authtoken_token.authtoken_token_user_id_35299eff_fk_auth_user_id",
            ),
        ),
        drift(
            "change_type",
            "ALTER TABLE taggit_tag ALTER COLUMN name TYPE varchar(50)",
            error("type_mismatch", "taggit_tag.name"),
        ),
        drift(
            "set_default",
            "ALTER TABLE django_celery_beat_periodictask ALTER COLUMN enabled SET DEFAULT true",
            error("default_mismatch", "django_celery_beat_periodictask.enabled"),
        ),
        drift(
            "drop_not_null",
            "ALTER TABLE django_flatpage ALTER COLUMN template_name DROP NOT NULL",
            error("nullability_mismatch", "django_flatpage.template_name"),
        ),
        drift(
            "change_collation",
            'ALTER TABLE django_flatpage ALTER COLUMN title TYPE varchar(200) COLLATE "C"',
            error(COLLATION_MISMATCH, "django_flatpage.title"),
        ),
        drift(
            "add_comment",
            "COMMENT ON COLUMN auth_user.first_name IS 'given name'",
            warning(COMMENT_MISMATCH, "auth_user.first_name"),
        ),
        drift(
            "rename_column",
            "ALTER TABLE reversion_revision RENAME COLUMN comment TO note",
            error("missing_column", "reversion_revision.comment"),
            error("extra_column", "reversion_revision.note"),
        ),
        drift(
            # Django relies on deferred checks (fixtures, forward references): an error.
            "make_fk_not_deferrable",
            "ALTER TABLE guardian_userobjectpermission ALTER CONSTRAINT "
            "guardian_userobjectpermission_user_id_d5c1e964_fk_auth_user_id NOT DEFERRABLE",
            error(
                "constraint_mismatch",
                "guardian_userobjectpermission."
                "guardian_userobjectpermission_user_id_d5c1e964_fk_auth_user_id",
            ),
        ),
    ),
)

CORPUS = (OPTUNA, MLFLOW, FLASK_APPBUILDER, DJANGO)
