"""Write validated specs into definition rows: idempotent and all-or-nothing."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import DataError, IntegrityError, transaction

from audit.trail import audit_record
from namespaces.models import Namespace
from namespaces.services import team_roles_ensure
from tasker_project.core.actors import Actor
from workflows.definitions.loader import DefinitionError, WorkflowSpec
from workflows.models import StepTemplate, WorkflowDefinition
from workflows.models.definitions import parse_semver


@dataclass
class SyncReport:
    """What one sync did, for the command's output."""

    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    flags_changed: list[str] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=dict)


def definitions_sync(*, specs: list[WorkflowSpec], actor: Actor) -> SyncReport:
    """Create new versions, apply lifecycle flags and pick each default.

    A version already in the database whose contract differs from its file
    is refused (publish a new version instead); every such problem is
    reported and nothing is written. The default of each workflow is the
    version whose file says ``default: true``, else the highest version
    that is not deprecated. A database refusal (an ``IntegrityError`` or
    ``DataError``) propagates with a note naming the workflow being written.
    """
    writing: list[str] = []
    try:
        return _sync(specs=specs, actor=actor, writing=writing)
    except (IntegrityError, DataError) as exc:
        if writing:
            exc.add_note(f"while writing {writing[-1]}")
        raise


@transaction.atomic
def _sync(*, specs: list[WorkflowSpec], actor: Actor, writing: list[str]) -> SyncReport:
    """Do :func:`definitions_sync`'s writes; append what it writes to ``writing``."""
    report = SyncReport()
    existing = _existing()
    problems = _conflicts(specs, existing)
    if problems:
        raise DefinitionError(problems)
    explicit_defaults = _explicit_defaults(specs)

    namespaces = {ns.slug: ns for ns in Namespace.objects.all()}
    touched: set[tuple[str, str]] = set()
    for spec in specs:
        writing.append(f"workflow {spec.label} ({spec.source})")
        namespace = namespaces.get(spec.namespace)
        if namespace is None:
            namespace = Namespace.objects.create(
                slug=spec.namespace, name=spec.namespace.replace("_", " ").title()
            )
            team_roles_ensure(namespace=namespace)
            namespaces[spec.namespace] = namespace
        touched.add((spec.namespace, spec.name))
        definition = existing.get(spec.key)
        if definition is None:
            definition = _create(spec, namespace)
            existing[spec.key] = definition
            report.created.append(spec.label)
            audit_record(
                actor=actor,
                action="definition.published",
                object_type="workflow_definition",
                object_id=definition.uuid,
                namespace=namespace,
                metadata={"workflow": spec.label, "source": spec.source},
            )
        elif definition.deprecated != spec.deprecated:
            WorkflowDefinition.objects.filter(pk=definition.pk).update(
                deprecated=spec.deprecated, is_default=False
            )
            definition.deprecated = spec.deprecated
            report.flags_changed.append(
                f"{spec.label} {'deprecated' if spec.deprecated else 'undeprecated'}"
            )
            audit_record(
                actor=actor,
                action="definition.deprecated"
                if spec.deprecated
                else "definition.undeprecated",
                object_type="workflow_definition",
                object_id=definition.uuid,
                namespace=namespace,
                metadata={"workflow": spec.label},
            )
        else:
            report.unchanged.append(spec.label)
        if definition.default_pinned != bool(spec.default):
            # The file is the truth for its own pin: adding or removing
            # `default: true` pins or unpins this version.
            WorkflowDefinition.objects.filter(pk=definition.pk).update(
                default_pinned=bool(spec.default)
            )
            definition.default_pinned = bool(spec.default)

    for ns, name in sorted(touched):
        writing.append(f"the default of workflow {ns}.{name}")
        report.defaults[f"{ns}.{name}"] = _pick_default(
            namespaces[ns], name, explicit_defaults.get((ns, name)), actor
        )
    return report


def definitions_check(*, specs: list[WorkflowSpec]) -> None:
    """Raise :class:`DefinitionError` if syncing ``specs`` would be refused.

    Write nothing: this is what ``sync_workflows --check`` runs after the
    files themselves validated, so a changed published version fails the
    check as it would fail the sync.
    """
    problems = _conflicts(specs, _existing())
    if problems:
        raise DefinitionError(problems)


def _existing() -> dict[tuple[str, str, str], WorkflowDefinition]:
    return {
        (d.namespace.slug, d.name, d.version): d
        for d in WorkflowDefinition.objects.select_related("namespace")
    }


def _explicit_defaults(
    specs: list[WorkflowSpec],
) -> dict[tuple[str, str], list[WorkflowSpec]]:
    explicit: dict[tuple[str, str], list[WorkflowSpec]] = defaultdict(list)
    for spec in specs:
        if spec.default:
            explicit[(spec.namespace, spec.name)].append(spec)
    return explicit


def _conflicts(
    specs: list[WorkflowSpec],
    existing: dict[tuple[str, str, str], WorkflowDefinition],
) -> list[str]:
    """Return why ``specs`` cannot be synced over ``existing``, if anything."""
    problems = [
        f"{spec.source}: workflow {spec.label}: published version changed "
        f"({_describe_change(spec, existing[spec.key])}); "
        "bump the version instead"
        for spec in specs
        if spec.key in existing and existing[spec.key].spec_hash != spec.spec_hash
    ]
    for (ns, name), chosen in _explicit_defaults(specs).items():
        if len(chosen) > 1:
            files = ", ".join(s.source for s in chosen)
            problems.append(
                f"workflow {ns}.{name}: more than one version says "
                f"default: true ({files})"
            )
    return problems


STEP_FIELDS = (
    "handler",
    "description",
    "kind",
    "retryable",
    "retry_limit",
    "backoff_base_seconds",
    "backoff_max_seconds",
    "backoff_jitter",
    "timeout_seconds",
    "handler_config",
)


def _describe_change(spec: WorkflowSpec, definition: WorkflowDefinition) -> str:
    """Say what differs between a file and its synced copy, step by step."""
    changes = [
        field_name
        for field_name, value in (
            ("description", spec.description),
            ("context_schema", spec.context_schema),
            ("example_context", spec.example_context),
        )
        if getattr(definition, field_name) != value
    ]
    stored = {t.name: t for t in definition.step_templates.all()}
    new = {s.name: s for s in spec.steps}
    changes += [f"step '{name}' added" for name in new if name not in stored]
    changes += [f"step '{name}' removed" for name in stored if name not in new]
    for position, step in enumerate(spec.steps):
        template = stored.get(step.name)
        if template is None:
            continue
        fields = [f for f in STEP_FIELDS if getattr(template, f) != getattr(step, f)]
        if list(template.depends_on) != list(step.depends_on):
            fields.append("depends_on")
        if template.position != position:
            fields.append("position")
        if fields:
            changes.append(f"step '{step.name}' {', '.join(fields)}")
    # Whatever is left (an explicit key equal to its default) is still a
    # different file: the hash is of the file's content.
    return "; ".join(changes) or "the file's content differs from the synced copy"


def _create(spec: WorkflowSpec, namespace: Namespace) -> WorkflowDefinition:
    definition = WorkflowDefinition.objects.create(
        namespace=namespace,
        name=spec.name,
        version=spec.version,
        description=spec.description,
        context_schema=spec.context_schema,
        example_context=spec.example_context,
        deprecated=spec.deprecated,
        default_pinned=bool(spec.default),
        spec_hash=spec.spec_hash,
        source_file=spec.source,
    )
    StepTemplate.objects.bulk_create(
        StepTemplate(
            definition=definition,
            name=step.name,
            position=position,
            handler=step.handler,
            kind=step.kind,
            depends_on=list(step.depends_on),
            description=step.description,
            retryable=step.retryable,
            retry_limit=step.retry_limit,
            backoff_base_seconds=step.backoff_base_seconds,
            backoff_max_seconds=step.backoff_max_seconds,
            backoff_jitter=step.backoff_jitter,
            timeout_seconds=step.timeout_seconds,
            handler_config=step.handler_config,
        )
        for position, step in enumerate(spec.steps)
    )
    return definition


def _pick_default(
    namespace: Namespace,
    name: str,
    explicit: list[WorkflowSpec] | None,
    actor: Actor,
) -> str:
    """Make one version the default of ``namespace.name``; return it.

    A version pinned with ``default: true`` in this sync wins and unpins
    the others; else a version pinned by an earlier sync keeps the default
    (so syncing one new file does not move it); else the highest version
    that is not deprecated.
    """
    versions = list(
        WorkflowDefinition.objects.filter(namespace=namespace, name=name).only(
            "pk", "version", "is_default", "deprecated", "default_pinned", "uuid"
        )
    )
    pinned = [v for v in versions if v.default_pinned and not v.deprecated]
    if explicit:
        chosen = next(v for v in versions if v.version == explicit[0].version)
        WorkflowDefinition.objects.filter(namespace=namespace, name=name).exclude(
            pk=chosen.pk
        ).update(default_pinned=False)
    elif pinned:
        chosen = max(pinned, key=lambda v: parse_semver(v.version))
    else:
        candidates = [v for v in versions if not v.deprecated]
        if not candidates:
            WorkflowDefinition.objects.filter(namespace=namespace, name=name).update(
                is_default=False
            )
            return "(none: every version is deprecated)"
        chosen = max(candidates, key=lambda v: parse_semver(v.version))
    previous = next((v for v in versions if v.is_default), None)
    if previous is None or previous.pk != chosen.pk:
        WorkflowDefinition.objects.filter(namespace=namespace, name=name).exclude(
            pk=chosen.pk
        ).update(is_default=False)
        WorkflowDefinition.objects.filter(pk=chosen.pk).update(is_default=True)
        audit_record(
            actor=actor,
            action="definition.default_changed",
            object_type="workflow_definition",
            object_id=chosen.uuid,
            namespace=namespace,
            metadata={
                "workflow": f"{namespace.slug}.{name}",
                "default": chosen.version,
                "previous": previous.version if previous else None,
            },
        )
    return chosen.version
