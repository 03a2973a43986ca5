"""The apps environment on a resource ("Set up JupyterLab and TensorBoard for me"):
starting its setup and following it.

The setup runs as the caller's own account there (their connection plan), as a process
of their daemon (:mod:`labgate.launching.apps_setup`), so nobody sets it up for another
user; it goes on when the browser is closed, and the follow route finds it again.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from labgate.api.deps import CurrentPrincipal, Db, State
from labgate.api.remote_errors import resource_errors
from labgate.api.schemas import Id
from labgate.auth.policy import Action, authorize
from labgate.launching import apps_setup
from labgate.launching.apps_setup import PackageSource, SetupState
from labgate.resources import catalog
from labgate.resources.plan import plan_for

router = APIRouter(prefix="/resources", tags=["apps environment"])


class AppSetupOut(BaseModel):
    """Where the caller's apps environment on the resource is."""

    #: ``absent``: not set up (and no setup seen); ``running``; ``succeeded``: set up
    #: (launches find JupyterLab and TensorBoard); ``failed``: the last setup failed.
    state: Literal["absent", "running", "succeeded", "failed"]
    #: The environment's directory on the resource.
    directory: str
    #: From 0 to 1 (1 once set up).
    fraction: float
    #: The current step in words.
    step: str
    #: At the end: what happened, for the user.
    message: str
    #: After a failure: pip's decisive error lines.
    errors: list[str]
    #: What the latest setup printed (its last 256 KiB).
    log: str

    @classmethod
    def of(cls, found: SetupState) -> AppSetupOut:
        progress = found.progress
        done = found.state == "succeeded"
        return cls(
            state=found.state,
            directory=found.directory,
            fraction=progress.fraction if progress else (1.0 if done else 0.0),
            step=progress.step if progress else ("Done" if done else ""),
            message=progress.message
            if progress
            else ("JupyterLab and TensorBoard are set up." if done else ""),
            errors=list(progress.errors) if progress else [],
            log=found.log,
        )


@router.get("/{resource_id}/app-setup", summary="Your apps environment there")
async def app_setup_state(
    resource_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> AppSetupOut:
    authorize(principal, Action.READ_RESOURCE)
    resource = await catalog.get_visible(db, principal, state.settings, resource_id)
    plan = await plan_for(db, resource, principal)
    with resource_errors():
        agent = await state.connections.agent(plan)
        return AppSetupOut.of(await apps_setup.state_of(agent, plan.owner))


@router.post(
    "/{resource_id}/app-setup",
    status_code=202,
    summary="Set up JupyterLab and TensorBoard there",
)
async def start_app_setup(
    resource_id: Id, principal: CurrentPrincipal, state: State, db: Db
) -> AppSetupOut:
    """Builds the apps environment in the caller's home on the resource, with the
    versions labgate pins, from the package index the resource reaches or the
    administrator's ``app_setup_wheel_directory``. Answers at once; the setup goes on as
    a process of the caller's daemon there (follow it with GET). One that runs already
    goes on; an environment already complete is found so at once."""
    authorize(principal, Action.USE_RESOURCE)
    resource = await catalog.get_visible(db, principal, state.settings, resource_id)
    plan = await plan_for(db, resource, principal)
    source = PackageSource(
        wheel_directory=state.settings.app_setup_wheel_directory,
        index_url=state.settings.app_setup_index_url,
    )
    with resource_errors():
        agent = await state.connections.agent(plan)
        found = await apps_setup.start(
            agent,
            plan.owner,
            python=plan.python,
            setup_lines=plan.setup_lines,
            source=source,
        )
    return AppSetupOut.of(found)
