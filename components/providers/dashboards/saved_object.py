"""The one saved-object provider: an object of one type with an id we choose (`object_id`).

Create writes it (adopting an object an earlier stack left under the same id), read
returns it normalised onto what we declare (or nothing when it is gone, so refresh
sees deletions), delete removes it. A kind says where the object lives (`_path`),
how it is written (`_write`) and what else its outputs carry (`_outs`).
"""

from __future__ import annotations

from pulumi.dynamic import CreateResult, ReadResult

from components.providers.dashboards.base import DashboardsProvider, _inputs_from, _outs_base, _ready_client
from components.providers.dashboards.saved_objects import decode_attributes, normalise_object
from components.providers.http_client import ApiClient


class SavedObjectProvider(DashboardsProvider):
    TYPE = ""

    def _path(self, props: dict) -> str:
        raise NotImplementedError

    def _write(self, client: ApiClient, props: dict) -> None:
        raise NotImplementedError

    def _outs(self, props: dict, doc: dict) -> dict:
        """Outputs from the inputs and a document (declared or live) with `attributes`."""
        return {
            **_outs_base(props),
            "object_id": props["object_id"],
            "attributes": decode_attributes(self.TYPE, doc["attributes"]),
        }

    @staticmethod
    def _with_id(id_: str, props: dict) -> dict:
        return {**props, "object_id": props.get("object_id") or id_}

    def create(self, props: dict) -> CreateResult:
        self._write(_ready_client(props), props)
        return CreateResult(id_=props["object_id"], outs=self._outs(props, props))

    def read(self, id_: str, props: dict) -> ReadResult:
        props = self._with_id(id_, props)
        live = _ready_client(props).request("GET", self._path(props), missing_ok=True)
        if live is None:
            return ReadResult(id_="", outs={})
        doc = normalise_object(live, {"type": self.TYPE, "attributes": props.get("attributes") or {}})
        outs = self._outs(props, doc)
        return ReadResult(id_=id_, outs=outs, inputs=_inputs_from(props, outs))

    def delete(self, id_: str, props: dict) -> None:
        props = self._with_id(id_, props)
        _ready_client(props).request("DELETE", self._path(props), missing_ok=True)
