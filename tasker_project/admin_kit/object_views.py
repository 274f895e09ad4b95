"""Extra pages of one admin object, declared once: cancel, retry, resolve, start.

Each such page does the same around its own few lines: it has the URL
``<object_id>/<name>/`` named ``<app>_<model>_<name>``; it answers only POST
when it changes something without a form of its own; it finds the object
through the admin's scoped queryset, so another team's object is a 404; it
sends a user without the role back to the object's page with a message
saying which role is needed; it runs one service as the user, tells the
outcome as a message (a refusal names what is wrong), and shows the object's
page again. :func:`object_view` declares that much on the admin method,
which is left with the lines that differ; :meth:`ObjectViewsMixin.submit`
runs the service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import update_wrapper
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from django.contrib import messages
from django.contrib.admin.utils import quote, unquote
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from namespaces.permissions import authorize
from namespaces.roles import roles_allowing
from namespaces.scoping import may, namespace_id_of
from tasker_project.admin_kit.scoped import ScopedAdminMixin
from tasker_project.core.actors import Actor
from tasker_project.core.errors import TaskerError

if TYPE_CHECKING:
    from namespaces.models import Namespace

T = TypeVar("T")
# An admin method serving an object page: None shows the object's page again.
PageMethod = Callable[..., HttpResponse | None]
# A success message: text (a success), or (text, message level).
Notice = str | tuple[str, int]


@dataclass(frozen=True)
class ObjectView:
    """What :func:`object_view` declares about one object page."""

    name: str
    post_only: bool = False
    # The action the page is for; a user without it is sent back (GET only,
    # unless ``audit_target``: then a POST is refused too, and audited).
    role: str | None = None
    # What the refusal says the user may not do: "resolve steps".
    refusal: str = ""
    # The target an audited refusal of a POST names ("workflow <definition>").
    audit_target: Callable[[Any], str] | None = None


def object_view(
    name: str,
    *,
    post_only: bool = False,
    role: str | None = None,
    refusal: str = "",
    audit_target: Callable[[Any], str] | None = None,
) -> Callable[[PageMethod], PageMethod]:
    """Serve the decorated ``method(self, request, obj)`` at ``<object_id>/<name>/``.

    Without ``role`` the page checks no role itself: the service it calls
    checks it, audits a refusal, and :meth:`ObjectViewsMixin.submit` shows it.
    """
    spec = ObjectView(name, post_only, role, refusal, audit_target)

    def mark(method: PageMethod) -> PageMethod:
        method.object_view = spec  # type: ignore[attr-defined]
        return method

    return mark


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a service called from an admin page came to."""

    # The service's answer; None when it refused.
    result: T | None = None
    # False when the refusal went onto the page's form, to be shown again.
    shown: bool = True


class ObjectViewsMixin(ScopedAdminMixin):
    """Route the admin's :func:`object_view` methods; run services for them."""

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name  # type: ignore[attr-defined]
        pages = [
            path(
                f"<path:object_id>/{spec.name}/",
                self.admin_site.admin_view(self._page(spec, method)),  # type: ignore[attr-defined]
                name=f"{info[0]}_{info[1]}_{spec.name}",
            )
            for spec, method in self._object_views()
        ]
        return [*pages, *super().get_urls()]  # type: ignore[misc]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        extra = self.change_context(request, obj) if obj is not None else {}
        return super().change_view(  # type: ignore[misc]
            request, object_id, form_url, {**(extra_context or {}), **extra}
        )

    def change_context(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        """Return what the object's page shows besides its fields (its buttons)."""
        return {}

    def _object_views(self) -> list[tuple[ObjectView, PageMethod]]:
        found: dict[str, tuple[ObjectView, PageMethod]] = {}
        for klass in reversed(type(self).__mro__):
            for attr, value in vars(klass).items():
                spec = getattr(value, "object_view", None)
                if isinstance(spec, ObjectView):
                    found[attr] = (spec, getattr(self, attr))
        return list(found.values())

    def _page(self, spec: ObjectView, method: PageMethod) -> Callable[..., Any]:
        def page(request: HttpRequest, object_id: str) -> HttpResponse:
            obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
            if obj is None:
                verbose_name = self.opts.verbose_name  # type: ignore[attr-defined]
                raise Http404(f"no {verbose_name} {object_id!r}")
            if self._refused(request, spec, obj):
                return self.refuse(request, spec, obj)
            response = method(request, obj)
            return self.object_page(obj) if response is None else response

        update_wrapper(page, method)
        return require_POST(page) if spec.post_only else page

    def _refused(self, request: HttpRequest, spec: ObjectView, obj: Model) -> bool:
        if spec.role is None:
            return False
        if request.method == "POST" and spec.audit_target is None:
            return False  # the service checks the role and audits a refusal
        namespace_id = namespace_id_of(obj, self.namespace_paths()[0])
        return not may(request, namespace_id, spec.role)

    def refuse(
        self, request: HttpRequest, spec: ObjectView, obj: Model
    ) -> HttpResponse:
        """Send a user without ``spec.role`` back to the object's page with why."""
        namespace = self.namespace_of(obj)
        needed = " or ".join(roles_allowing(spec.role or ""))
        message = (
            f"You may not {spec.refusal} in namespace {namespace} "
            f"(needs role {needed})."
        )
        if request.method == "POST" and spec.audit_target is not None:
            try:
                authorize(
                    actor=Actor.of(request.user),
                    # An audited page's objects (workflow versions) always
                    # belong to a namespace: namespace_of found one.
                    namespace=cast("Namespace", namespace),
                    action=spec.role or "",
                    target=spec.audit_target(obj),
                )
            except TaskerError as exc:
                message = exc.message
        self.message_user(request, message, messages.ERROR)  # type: ignore[attr-defined]
        return self.object_page(obj)

    def object_page(self, obj: Model) -> HttpResponseRedirect:
        """Return a redirect to ``obj``'s admin page."""
        opts = obj._meta
        return HttpResponseRedirect(
            reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)]
            )
        )

    def submit(
        self,
        request: HttpRequest,
        call: Callable[[Actor], T],
        *,
        failed: str,
        done: Notice | Callable[[T], Notice],
        on_form: Callable[[TaskerError], bool] | None = None,
    ) -> Outcome[T]:
        """Run ``call(actor)`` for the user; say how it went.

        A refusal becomes the message ``"<failed>: <why>"``, unless
        ``on_form`` puts it on the page's form (and returns True); on success
        ``done`` (or ``done(result)``) is the message.
        """
        try:
            result = call(Actor.of(request.user))
        except TaskerError as exc:
            if on_form is not None and on_form(exc):
                return Outcome(shown=False)
            self.message_user(request, f"{failed}: {exc.message}", messages.ERROR)  # type: ignore[attr-defined]
            return Outcome()
        notice = done(result) if callable(done) else done
        text, level = (notice, messages.SUCCESS) if isinstance(notice, str) else notice
        self.message_user(request, text, level)  # type: ignore[attr-defined]
        return Outcome(result=result)
