"""The agent's names where they were before the agent became the package
``labgate.agent.remote`` (see there): kept only until every import has moved."""

from labgate.agent.remote.connection import *  # noqa: F403
from labgate.agent.remote.daemon import *  # noqa: F403
from labgate.agent.remote.files import *  # noqa: F403
from labgate.agent.remote.main import *  # noqa: F403
from labgate.agent.remote.ports import *  # noqa: F403
from labgate.agent.remote.processes import *  # noqa: F403
from labgate.agent.remote.relay import *  # noqa: F403
from labgate.agent.remote.runtime import *  # noqa: F403
from labgate.agent.remote.runtime import _SOCKET_PATH_MAX as _SOCKET_PATH_MAX
from labgate.agent.remote.streams import *  # noqa: F403
from labgate.agent.remote.system import *  # noqa: F403
from labgate.agent.remote.tasks import *  # noqa: F403
from labgate.agent.remote.tasks import _settle as _settle
from labgate.agent.remote.transfers import *  # noqa: F403
from labgate.agent.remote.wire import *  # noqa: F403
from labgate.agent.remote.wire import _OS_ERROR_CODES as _OS_ERROR_CODES
