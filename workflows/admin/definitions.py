"""Admin for workflow definitions: the DAG of each version and "Start a task"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from namespaces.roles import Action
from namespaces.scoping import may
from tasker_project.admin_kit.display import pretty_json
from tasker_project.admin_kit.object_views import (
    Notice,
    ObjectViewsMixin,
    Outcome,
    object_view,
)
from tasker_project.admin_kit.scoped import (
    NamespaceFilter,
    ReadOnlyAdminMixin,
    ScopedAdminMixin,
)
from tasker_project.core.errors import TaskerError
from workflows.admin.common import ReadOnlyInline, admin_link
from workflows.admin.forms import StartOptionsForm, add_start_error
from workflows.models import StepTemplate, Task, WorkflowDefinition
from workflows.schema_forms import SchemaForm, build_schema_form
from workflows.services import task_start

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class DefinitionTotals(TypedDict):
    """What :meth:`WorkflowDefinitionAdmin.get_queryset` annotates on each version."""

    step_total: int
    task_total: int


# The HTML prefix of the generated context fields ("context-payment_id"), so
# a property called "reason" cannot collide with the start reason.
CONTEXT_PREFIX = "context"


def retry_policy(template: StepTemplate) -> str:
    """Return the template's retry policy in one line."""
    if not template.retryable:
        return "not retryable (1 attempt)"
    jitter = ", jitter" if template.backoff_jitter else ""
    return (
        f"{template.retry_limit} attempts, backoff "
        f"{template.backoff_base_seconds:g}–{template.backoff_max_seconds:g}s{jitter}"
    )


def dag_levels(templates: list[StepTemplate]) -> list[list[str]]:
    """Return step names grouped by depth: roots first, each after its parents."""
    depth: dict[str, int] = {}
    by_name = {t.name: t for t in templates}

    def level(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in depth:
            parents = [p for p in by_name[name].depends_on if p in by_name]
            if name in seen:  # a cycle never passes the loader; do not recurse forever
                return 0
            depth[name] = 1 + max(
                (level(p, seen | {name}) for p in parents), default=-1
            )
        return depth[name]

    levels: list[list[str]] = []
    for template in templates:
        index = level(template.name)
        while len(levels) <= index:
            levels.append([])
        levels[index].append(template.name)
    return levels


class StepTemplateInline(ReadOnlyInline):
    """The definition's steps in definition order, with what each depends on."""

    model = StepTemplate
    fk_name = "definition"
    ordering = ("position",)
    fields = (
        "position",
        "name",
        "kind",
        "handler",
        "depends_on_display",
        "retry_policy_display",
        "timeout_seconds",
        "handler_config_display",
    )
    readonly_fields = fields
    verbose_name = "step"
    verbose_name_plural = "steps (DAG, in definition order)"

    @admin.display(description="depends on")
    def depends_on_display(self, obj: StepTemplate) -> str:
        return ", ".join(obj.depends_on) or "— (root)"

    @admin.display(description="retry policy")
    def retry_policy_display(self, obj: StepTemplate) -> str:
        return retry_policy(obj)

    @admin.display(description="handler config")
    def handler_config_display(self, obj: StepTemplate) -> SafeString | str:
        return pretty_json(obj.handler_config) if obj.handler_config else "-"


@admin.register(WorkflowDefinition)
class WorkflowDefinitionAdmin(ObjectViewsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Definitions are synced from YAML (``sync_workflows``), so they are read-only.

    From here staff read the DAG and start tasks of a version.
    """

    change_form_template = "admin/workflows/workflowdefinition/change_form.html"
    list_display = (
        "name",
        "namespace",
        "version",
        "is_default",
        "deprecated",
        "step_count",
        "task_count",
        "start_link",
        "updated_at",
    )
    list_display_links = ("name",)
    list_filter = (("namespace", NamespaceFilter), "is_default", "deprecated")
    list_select_related = ("namespace",)
    search_fields = ("name", "namespace__slug", "description", "version")
    date_hierarchy = "created_at"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "namespace",
                    "name",
                    "version",
                    "lifecycle",
                    "description",
                    "tasks_link",
                )
            },
        ),
        ("DAG", {"fields": ("dag_display",)}),
        ("Context", {"fields": ("context_schema_display", "example_context_display")}),
        (
            "Provenance",
            {
                "classes": ("collapse",),
                "fields": (
                    "uuid",
                    "source_file",
                    "spec_hash",
                    "created_at",
                    "updated_at",
                ),
            },
        ),
    )
    readonly_fields = (
        "namespace",
        "name",
        "version",
        "lifecycle",
        "description",
        "tasks_link",
        "dag_display",
        "context_schema_display",
        "example_context_display",
        "uuid",
        "source_file",
        "spec_hash",
        "created_at",
        "updated_at",
    )
    inlines = (StepTemplateInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkflowDefinition]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                step_total=Count("step_templates", distinct=True),
                task_total=Count("tasks", distinct=True),
            )
        )

    def has_start_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Return whether the user may start tasks (of ``obj``'s namespace)."""
        return self.may_act(request, Action.START, obj)

    def change_context(
        self, request: HttpRequest, definition: WorkflowDefinition
    ) -> dict[str, Any]:
        return {"can_start": self.has_start_permission(request, definition)}

    def get_list_display(self, request: HttpRequest) -> Any:
        """Offer "Start a task" only on versions the user may start."""
        columns = super().get_list_display(request)
        if not self.has_start_permission(request):
            return tuple(c for c in columns if c != "start_link")

        @admin.display(description="start")
        def start_link(obj: WorkflowDefinition) -> SafeString | str:
            if not may(request, obj.namespace_id, Action.START):
                return "-"
            return self.start_link(obj)

        return tuple(start_link if c == "start_link" else c for c in columns)

    # ---- list columns and read-only fields -------------------------------

    @admin.display(description="steps", ordering="step_total")
    def step_count(
        self, obj: WithAnnotations[WorkflowDefinition, DefinitionTotals]
    ) -> int:
        return obj.step_total

    @admin.display(description="tasks", ordering="task_total")
    def task_count(
        self, obj: WithAnnotations[WorkflowDefinition, DefinitionTotals]
    ) -> SafeString:
        return format_html(
            '<a href="{}?definition__id__exact={}">{}</a>',
            reverse("admin:workflows_task_changelist"),
            obj.pk,
            obj.task_total,
        )

    @admin.display(description="start")
    def start_link(self, obj: WorkflowDefinition) -> SafeString | str:
        if obj.deprecated:
            return "deprecated"
        return format_html(
            '<a class="button" style="white-space: nowrap" href="{}">Start a task</a>',
            start_url(obj),
        )

    @admin.display(description="lifecycle")
    def lifecycle(self, obj: WorkflowDefinition) -> str:
        if obj.deprecated:
            return "deprecated: refuses new starts; running tasks finish on it"
        return "default version" if obj.is_default else "active (not the default)"

    @admin.display(description="tasks")
    def tasks_link(
        self, obj: WithAnnotations[WorkflowDefinition, DefinitionTotals]
    ) -> SafeString:
        # The change page's object comes from get_queryset, so it is annotated.
        return self.task_count(obj)

    @admin.display(description="steps by depth")
    def dag_display(self, obj: WorkflowDefinition) -> SafeString:
        levels = dag_levels(list(obj.step_templates.order_by("position")))
        return format_html_join(
            "",
            "<div>{}. {}</div>",
            ((i + 1, " ∥ ".join(names)) for i, names in enumerate(levels)),
        )

    @admin.display(description="context schema")
    def context_schema_display(self, obj: WorkflowDefinition) -> SafeString | str:
        return pretty_json(obj.context_schema)

    @admin.display(description="example context")
    def example_context_display(self, obj: WorkflowDefinition) -> SafeString | str:
        return pretty_json(obj.example_context)

    # ---- "Start a task" --------------------------------------------------

    @object_view(
        "start",
        role=Action.START,
        refusal="start tasks",
        audit_target=lambda definition: f"workflow {definition}",
    )
    def start_view(
        self, request: HttpRequest, definition: WorkflowDefinition
    ) -> HttpResponse:
        """Show the form generated from the context schema; start on POST.

        Only operators of the namespace get the form; anyone else who can see
        the definition is sent back to it with a message (a POST is also
        checked, and audited, by :func:`~namespaces.permissions.authorize`).
        """
        form_class = build_schema_form(
            definition.context_schema, definition.example_context
        )
        if request.method == "POST":
            form = form_class(request.POST, prefix=CONTEXT_PREFIX)
            options = StartOptionsForm(request.POST)
            if form.is_valid() and options.is_valid():
                task = self._start(request, definition, form, options).result
                if task is not None:
                    return self.object_page(task)
        else:
            form = form_class(prefix=CONTEXT_PREFIX)
            options = StartOptionsForm()
        default = None
        if definition.deprecated:
            default = (
                WorkflowDefinition.objects.filter(
                    namespace=definition.namespace,
                    name=definition.name,
                    is_default=True,
                )
                .select_related("namespace")
                .first()
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Start a task of {definition}",
            "subtitle": None,
            "original": definition,
            "definition": definition,
            "definition_link": admin_link(definition),
            "default_definition": default,
            "default_start_url": start_url(default) if default else None,
            "form": form,
            "options_form": options,
            "errors": bool(form.errors or options.errors),
            "schema": pretty_json(definition.context_schema),
        }
        return TemplateResponse(
            request, "admin/workflows/workflowdefinition/start_task.html", context
        )

    def _start(
        self,
        request: HttpRequest,
        definition: WorkflowDefinition,
        form: SchemaForm,
        options: StartOptionsForm,
    ) -> Outcome[Task]:
        def on_form(exc: TaskerError) -> bool:
            add_start_error(form, options, exc)
            return True

        def started(task: Task) -> Notice:
            if getattr(task, "was_created", True):
                return f"Started task {task.pk}."
            key = options.cleaned_data["idempotency_key"]
            return (
                f"Idempotency key {key!r} was already used with this input: "
                "showing the task it started.",
                messages.INFO,
            )

        return self.submit(
            request,
            lambda actor: task_start(
                namespace=definition.namespace,
                workflow=definition.name,
                version=definition.version,
                context=form.assemble_context(),
                actor=actor,
                reason=options.cleaned_data["reason"],
                idempotency_key=options.cleaned_data["idempotency_key"],
                source_system="admin",
            ),
            failed="Not started",
            done=started,
            on_form=on_form,
        )


@admin.register(StepTemplate)
class StepTemplateAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Step templates, read-only: they change only by syncing a new version."""

    namespace_path = "definition__namespace"
    list_display = (
        "name",
        "definition",
        "position",
        "kind",
        "handler",
        "depends_on_display",
        "retry_policy_display",
    )
    list_filter = ("kind", ("definition__namespace", NamespaceFilter), "retryable")
    list_select_related = ("definition__namespace",)
    search_fields = ("name", "handler", "definition__name")
    ordering = ("definition__namespace__slug", "definition__name", "position")
    readonly_fields = ("definition_link", "handler_config_display")
    exclude = ("definition", "handler_config")

    @admin.display(description="definition")
    def definition_link(self, obj: StepTemplate) -> SafeString | str:
        return admin_link(obj.definition)

    @admin.display(description="depends on")
    def depends_on_display(self, obj: StepTemplate) -> str:
        return ", ".join(obj.depends_on) or "—"

    @admin.display(description="retry policy")
    def retry_policy_display(self, obj: StepTemplate) -> str:
        return retry_policy(obj)

    @admin.display(description="handler config")
    def handler_config_display(self, obj: StepTemplate) -> SafeString | str:
        return pretty_json(obj.handler_config)


def start_url(definition: WorkflowDefinition) -> str:
    """Return the admin URL of the start form of ``definition``."""
    return reverse("admin:workflows_workflowdefinition_start", args=[definition.pk])
