"""Champion and challenger: a second model scores live traffic in shadow; a report compares."""

from __future__ import annotations

from typing import Any

from test_models_api import (  # the trained-model fixtures of the model API tests
    activate_model,
    model_dir,  # noqa: F401  (fixture)
    register_ok,
    scam_and_ordinary,
    upload,  # noqa: F401  (fixture)
)

from fixtures import Api


def challenger_setup(api: Api, body: dict[str, Any]) -> tuple[int, int]:
    champion = register_ok(api, body)
    challenger = register_ok(api, body)
    assert activate_model(api, champion).status_code == 200
    started = api.client.post(f"/v1/models/{challenger}/challenger", headers=api.admin)
    assert started.status_code == 200, started.text
    return champion, challenger


class TestChallenger:
    def test_challenger_scores_every_event_and_never_changes_a_decision(
        self,
        app_client: Api,
        upload: dict[str, Any],  # noqa: F811
    ) -> None:
        champion, challenger = challenger_setup(app_client, upload)
        decisions = [app_client.decide(e) for e in scam_and_ordinary("cc-1")]
        assert all(d["model_version"] == str(champion) for d in decisions)
        assert app_client.rows("challenger_scores") == len(decisions)
        report = app_client.client.get(
            f"/v1/models/{challenger}/challenger-report", headers=app_client.admin
        ).json()
        assert report["events"] == len(decisions)
        assert report["running"] is True
        assert report["champion_versions"] == [champion]
        # the same model on both sides: identical scores, full agreement
        assert report["champion"]["mean"] == report["challenger"]["mean"]
        assert set(report["agreement"].values()) == {1.0}

    def test_labels_give_quality_for_both_models(
        self,
        app_client: Api,
        upload: dict[str, Any],  # noqa: F811
    ) -> None:
        _, challenger = challenger_setup(app_client, upload)
        events = scam_and_ordinary("cc-2")
        for event in events:
            app_client.decide(event)
        labels = [
            {"event_id": e["event_id"], "label": 1 if i == 1 else 0} for i, e in enumerate(events)
        ]
        posted = app_client.client.post(
            "/v1/labels", json={"labels": labels}, headers=app_client.admin
        )
        assert posted.status_code == 200, posted.text
        report = app_client.client.get(
            f"/v1/models/{challenger}/challenger-report", headers=app_client.admin
        ).json()
        assert report["quality"]["labelled_events"] == len(events)
        assert report["quality"]["champion"]["positives"] == 1
        assert report["quality"]["challenger"]["n"] == len(events)

    def test_stop_and_refusals(self, app_client: Api, upload: dict[str, Any]) -> None:  # noqa: F811
        champion, challenger = challenger_setup(app_client, upload)
        same = app_client.client.post(f"/v1/models/{champion}/challenger", headers=app_client.admin)
        assert same.status_code == 409
        writer_only = app_client.key("rules:write")
        denied = app_client.client.post(f"/v1/models/{challenger}/challenger", headers=writer_only)
        assert denied.status_code == 403
        stopped = app_client.client.delete(
            f"/v1/models/{challenger}/challenger", headers=app_client.admin
        )
        assert stopped.status_code == 200
        app_client.decide(scam_and_ordinary("cc-3")[-1])
        assert app_client.rows("challenger_scores") == 0
        again = app_client.client.delete(
            f"/v1/models/{challenger}/challenger", headers=app_client.admin
        )
        assert again.status_code == 404
