"""Dynamic providers for the OpenSearch side of the bootstrap (SPEC "Bootstrap" 1-5).

Every asset is a resource whose inputs are the API endpoint, the asset's name
and its document as a nested dict (`body`), so `pulumi preview --diff` shows
field-level changes. The providers:

- check   validate the document locally, before any request;
- diff    compare normalised documents (settings spelled the way OpenSearch
          spells them, dotted mapping names expanded, server bookkeeping
          ignored), so an unchanged stack previews no changes; only a new
          name replaces, anything else updates in place;
- read    return the live document, or nothing when it was deleted, so
          `pulumi refresh` sees edits and deletions made outside Pulumi;
- create / update / delete through the REST API.

The endpoint is an input but never a reason to replace: a new port moves the
container, not the assets (they live on the data volume), so an endpoint-only
change is an update that rewrites state and sends nothing.

One module per kind: `templates`, `pipeline`, `ism_policy`, `index` (+ `days`: moving an index into its daily ones),
`datasource`, on the thin base in `base` and the normalisers in `documents`.

THIS MODULE PATH IS STORED IN EXISTING STACKS. Until this package was made,
every provider class lived in the single module `components.providers.opensearch`,
and Pulumi pickled each one by that module path into the state of every stack
(`__provider`). `refresh`, `up` and `destroy` of those stacks unpickle it from
here, so every name below must stay importable from this package
(tests/unit/test_provider_paths.py unpickles each stored form).
Providers hold no sessions or locks; every method builds its own ApiClient.
"""

from components.providers.http_client import ApiClient, ApiError, reason_of  # noqa: F401
from components.providers.kit import plain  # noqa: F401
from components.providers.opensearch.base import (  # noqa: F401
    DEFAULT_TIMEOUT_S,
    DELETE_UNREACHABLE_S,
    SECRET_PROPS,
    _AssetProvider,
    _check_common,
    _client,
    _DocumentResource,
    _inputs,
    _only_entry,
    _public,
)
from components.providers.opensearch.datasource import Datasource, DatasourceProvider  # noqa: F401
from components.providers.opensearch.documents import (  # noqa: F401
    FIELD_TYPES,
    canonical_mappings,
    canonical_properties,
    canonical_settings,
    canonical_template,
    mapping_problems,
    merge_mappings,
)
from components.providers.opensearch.index import Index, IndexProvider  # noqa: F401
from components.providers.opensearch.rebuild import REBUILD_SUFFIX, rebuild_index_name  # noqa: F401
from components.providers.opensearch.days import copy_into_days, day_indices, is_day, missing_ids, move_into_days  # noqa: F401
from components.providers.opensearch.ism_policy import (  # noqa: F401
    ISM_CONFLICT_ATTEMPTS,
    POLICY_ATTACH_WAIT_S,
    IsmPolicy,
    IsmPolicyProvider,
    conflicting_policies,
    managed_indices,
    policy_problems,
    reattach_policy,
)
from components.providers.opensearch.pipeline import IngestPipeline, IngestPipelineProvider  # noqa: F401
from components.providers.opensearch.templates import (  # noqa: F401
    ComponentTemplate,
    ComponentTemplateProvider,
    IndexTemplate,
    IndexTemplateProvider,
)
