"""The mattermost role writes only real Mattermost keys and keeps secrets out of config.json."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "mattermost"
GOLDEN_APP_VARS = (
    Path(__file__).resolve().parents[1] / "golden" / "render" / "staging" / "ansible" / "group_vars"
)

# Real config.json keys, per section: from ../shared/MATTERMOST.md and upstream's
# server/public/model/config.go (ServiceSettings, SqlSettings, FileSettings, ClusterSettings,
# MetricsSettings, JobSettings, LogSettings, EmailSettings, PluginSettings, AnnouncementSettings,
# TeamSettings). A key outside this list is either a typo or needs checking against upstream first.
REAL_KEYS: dict[str, frozenset[str]] = {
    "ServiceSettings": frozenset(
        {
            "SiteURL",
            "WebsocketURL",
            "LicenseFileLocation",
            "ListenAddress",
            "ConnectionSecurity",
            "TLSCertFile",
            "TLSKeyFile",
            "TrustedProxyIPHeader",
            "ReadTimeout",
            "WriteTimeout",
            "IdleTimeout",
            "EnableLinkPreviews",
            "EnablePermalinkPreviews",
            "EnableSecurityFixAlert",
            "EnableGifPicker",
            "EnableEmailInvitations",
            "EnableLocalMode",
            "LocalModeSocketLocation",
            "EnableDeveloper",
            "AllowCorsFrom",
            "GoroutineHealthThreshold",
            "MaximumLoginAttempts",
        }
    ),
    "SqlSettings": frozenset(
        {
            "DriverName",
            "DataSource",
            "DataSourceReplicas",
            "DataSourceSearchReplicas",
            "MaxIdleConns",
            "MaxOpenConns",
            "ConnMaxLifetimeMilliseconds",
            "ConnMaxIdleTimeMilliseconds",
            "QueryTimeout",
            "ReplicaLagSettings",
            "ReplicaMonitorIntervalSeconds",
        }
    ),
    "FileSettings": frozenset(
        {
            "DriverName",
            "Directory",
            "MaxFileSize",
            "AmazonS3AccessKeyId",
            "AmazonS3SecretAccessKey",
            "AmazonS3Bucket",
            "AmazonS3PathPrefix",
            "AmazonS3Region",
            "AmazonS3Endpoint",
            "AmazonS3SSL",
            "AmazonS3SignV2",
            "AmazonS3SSE",
            "AmazonS3RequestTimeoutMilliseconds",
        }
    ),
    "ClusterSettings": frozenset(
        {
            "Enable",
            "ClusterName",
            "OverrideHostname",
            "NetworkInterface",
            "BindAddress",
            "AdvertiseAddress",
            "UseIPAddress",
            "EnableGossipCompression",
            "EnableExperimentalGossipEncryption",
            "ReadOnlyConfig",
            "GossipPort",
        }
    ),
    "MetricsSettings": frozenset({"Enable", "BlockProfileRate", "ListenAddress"}),
    "JobSettings": frozenset({"RunJobs", "RunScheduler"}),
    "LogSettings": frozenset(
        {
            "EnableConsole",
            "ConsoleLevel",
            "ConsoleJson",
            "EnableFile",
            "FileLevel",
            "FileJson",
            "FileLocation",
            "EnableDiagnostics",
        }
    ),
    "EmailSettings": frozenset(
        {
            "SendEmailNotifications",
            "SendPushNotifications",
            "PushNotificationServer",
            "PushNotificationContents",
        }
    ),
    "PluginSettings": frozenset(
        {
            "Enable",
            "EnableUploads",
            "Directory",
            "ClientDirectory",
            "EnableMarketplace",
            "EnableRemoteMarketplace",
            "AutomaticPrepackagedPlugins",
            "RequirePluginSignature",
        }
    ),
    "AnnouncementSettings": frozenset({"AdminNoticesEnabled", "UserNoticesEnabled"}),
    "TeamSettings": frozenset({"SiteName", "MaxUsersPerTeam", "EnableOpenServer"}),
}

DB_PASSWORD = 'p@ss/w:rd"$x'  # noqa: S105 - a sample with every character that breaks a DSN or env file
S3_ACCESS = "AKIA-sample-access"
S3_SECRET = 's3cret/with+plus\\and"quote'  # noqa: S105 - sample


def role_defaults() -> dict[str, Any]:
    loaded = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def sample_vars(**overrides: Any) -> dict[str, Any]:
    """Role defaults, then the renderer's staging group_vars, a host's vars and the vault secrets."""
    pinned = yaml.safe_load(
        (ROLE.parent / "deployer_defaults" / "defaults" / "main.yml").read_text(encoding="utf-8")
    )
    variables = {**pinned, **role_defaults()}
    golden = yaml.safe_load((GOLDEN_APP_VARS / "app.yml").read_text(encoding="utf-8"))
    variables.update(golden)
    variables.update(
        {
            "inventory_hostname": "stg-app1",
            "ansible_host": "10.213.2.21",
            "mattermost_override_hostname": "stg-app1",
            "mattermost_db_password": DB_PASSWORD,
            "mattermost_s3_access_key": S3_ACCESS,
            "mattermost_s3_secret_key": S3_SECRET,
            "ansible_managed": "Ansible managed",
        }
    )
    variables.update(overrides)
    return variables


def _trusted(value: Any) -> Any:
    """Mark strings from YAML files as templates, as Ansible does for defaults and group_vars."""
    from ansible.template import trust_as_template  # noqa: PLC0415 - slow import, only here

    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    return value


def render(template: str, variables: dict[str, Any]) -> str:
    """Render one of the role's templates with ansible-core's engine, the way the template action does."""
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415 - slow import, only here
    from ansible.template import Templar, trust_as_template  # noqa: PLC0415

    source = (ROLE / "templates" / template).read_text(encoding="utf-8")
    templar = Templar(loader=DataLoader(), variables=_trusted(variables))
    result = templar.template(
        trust_as_template(source), escape_backslashes=False, overrides={"trim_blocks": True}
    )
    assert isinstance(result, str)
    return result


def render_config(**overrides: Any) -> dict[str, Any]:
    loaded = json.loads(render("var/opt/mattermost/config/config.json.j2", sample_vars(**overrides)))
    assert isinstance(loaded, dict)
    return loaded


def unknown_keys(config: dict[str, Any]) -> list[str]:
    problems = []
    for section, values in config.items():
        if section not in REAL_KEYS:
            problems.append(section)
            continue
        problems.extend(f"{section}.{key}" for key in values if key not in REAL_KEYS[section])
    return problems


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return render_config()


def test_every_key_is_a_real_mattermost_key(config: dict[str, Any]) -> None:
    assert unknown_keys(config) == []


def test_a_made_up_key_is_caught() -> None:
    config = render_config(mattermost_config_overrides={"ClusterSettings": {"GossipPorts": 1}})
    assert unknown_keys(config) == ["ClusterSettings.GossipPorts"]


def test_cluster_settings(config: dict[str, Any]) -> None:
    cluster = config["ClusterSettings"]
    assert cluster["Enable"] is True
    assert cluster["ClusterName"] == "mm-staging"
    assert cluster["OverrideHostname"] == "stg-app1"
    assert cluster["GossipPort"] == 8074
    # With Enable and ReadOnlyConfig the server never rewrites config.json: the role stays idempotent.
    assert cluster["ReadOnlyConfig"] is True


def test_database_points_at_the_load_balancers_without_the_password(config: dict[str, Any]) -> None:
    sql = config["SqlSettings"]
    assert sql["DriverName"] == "postgres"
    assert sql["DataSource"].startswith("postgres://mattermost@10.213.2.10:5432/mattermost?")
    assert sql["DataSourceReplicas"] == [sql["DataSource"].replace(":5432/", ":5433/")]
    assert (sql["MaxIdleConns"], sql["MaxOpenConns"], sql["QueryTimeout"]) == (20, 300, 30)


def test_files_go_to_s3_through_the_vip(config: dict[str, Any]) -> None:
    files = config["FileSettings"]
    assert files["DriverName"] == "amazons3"
    assert files["AmazonS3Endpoint"] == "10.213.2.10:8333"
    assert files["AmazonS3Bucket"] == "mattermost"
    assert files["AmazonS3SSL"] is False


def test_local_driver_uses_the_shared_directory() -> None:
    files = render_config(mattermost_file_driver="local")["FileSettings"]
    assert files == {"DriverName": "local", "Directory": "/var/opt/mattermost/data/"}


def test_listens_only_on_the_cluster_address(config: dict[str, Any]) -> None:
    assert config["ServiceSettings"]["ListenAddress"] == "10.213.2.21:8065"
    assert config["MetricsSettings"] == {"Enable": True, "ListenAddress": "10.213.2.21:8067"}
    assert config["ServiceSettings"]["SiteURL"] == "https://chat.staging.example.internal"
    assert config["ClusterSettings"]["BindAddress"] == "10.213.2.21"


def test_offline_switches_are_off(config: dict[str, Any]) -> None:
    assert config["LogSettings"]["EnableDiagnostics"] is False
    assert config["AnnouncementSettings"] == {"AdminNoticesEnabled": False, "UserNoticesEnabled": False}
    assert config["PluginSettings"]["EnableMarketplace"] is False
    assert config["PluginSettings"]["EnableRemoteMarketplace"] is False
    service = config["ServiceSettings"]
    assert service["EnableLinkPreviews"] is False
    assert service["EnableSecurityFixAlert"] is False
    assert service["EnableGifPicker"] is False
    assert config["EmailSettings"] == {"SendPushNotifications": False, "PushNotificationServer": ""}
    assert config["JobSettings"]["RunScheduler"] is True


def test_no_secret_reaches_config_json() -> None:
    text = render("var/opt/mattermost/config/config.json.j2", sample_vars())
    for secret in (DB_PASSWORD, S3_ACCESS, S3_SECRET, "p%40ss"):
        assert secret not in text


def test_license_location_only_with_a_license() -> None:
    assert "LicenseFileLocation" not in render_config()["ServiceSettings"]
    with_license = render_config(mattermost_license_file="/site/mattermost.license")
    location = with_license["ServiceSettings"]["LicenseFileLocation"]
    assert location == "/var/opt/mattermost/config/mattermost.mattermost-license"


def test_overrides_merge_into_sections() -> None:
    config = render_config(mattermost_config_overrides={"TeamSettings": {"SiteName": "Chat"}})
    assert config["TeamSettings"] == {"SiteName": "Chat"}
    assert config["ClusterSettings"]["ClusterName"] == "mm-staging"


def parse_env_file(text: str) -> dict[str, str]:
    """Parse like systemd: KEY="value" with backslash escapes inside double quotes."""
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, raw = line.partition("=")
        assert raw.startswith('"')
        assert raw.endswith('"')
        values[key] = re.sub(r"\\(.)", r"\1", raw[1:-1])
    return values


def test_env_file_carries_the_secrets_escaped() -> None:
    from urllib.parse import unquote, urlsplit  # noqa: PLC0415

    env = parse_env_file(render("etc/mattermost/mattermost.env.j2", sample_vars()))
    assert set(env) == {
        "MM_SQLSETTINGS_DATASOURCE",
        "MM_SQLSETTINGS_DATASOURCEREPLICAS",
        "MM_FILESETTINGS_AMAZONS3ACCESSKEYID",
        "MM_FILESETTINGS_AMAZONS3SECRETACCESSKEY",
    }
    writer = urlsplit(env["MM_SQLSETTINGS_DATASOURCE"])
    assert (writer.hostname, writer.port, writer.username) == ("10.213.2.10", 5432, "mattermost")
    assert unquote(writer.password or "") == DB_PASSWORD
    assert urlsplit(env["MM_SQLSETTINGS_DATASOURCEREPLICAS"]).port == 5433
    assert " " not in env["MM_SQLSETTINGS_DATASOURCEREPLICAS"]  # the server splits list values on spaces
    assert env["MM_FILESETTINGS_AMAZONS3SECRETACCESSKEY"] == S3_SECRET


def test_env_file_without_s3_for_the_local_driver() -> None:
    env = parse_env_file(
        render("etc/mattermost/mattermost.env.j2", sample_vars(mattermost_file_driver="local"))
    )
    assert set(env) == {"MM_SQLSETTINGS_DATASOURCE", "MM_SQLSETTINGS_DATASOURCEREPLICAS"}


def test_systemd_unit_is_upstreams() -> None:
    unit = render("etc/systemd/system/mattermost.service.j2", sample_vars())
    for line in (
        "Type=notify",
        "LimitNOFILE=49152",
        "TimeoutStartSec=3600",
        "ExecStart=/opt/mattermost/bin/mattermost",
        "WorkingDirectory=/opt/mattermost",
        "EnvironmentFile=/etc/mattermost/mattermost.env",
        "User=mattermost",
    ):
        assert line in unit.splitlines()


def test_every_default_is_prefixed_documented_and_specified() -> None:
    text = (ROLE / "defaults" / "main.yml").read_text(encoding="utf-8")
    lines = text.splitlines()
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    options = specs["argument_specs"]["main"]["options"]
    for name in role_defaults():
        assert name.startswith("mattermost_")
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{name}:"))
        assert lines[index - 1].startswith("#"), f"{name} has no comment right above it"
        assert name in options, f"{name} is missing from meta/argument_specs.yml"
    required = {name for name, spec in options.items() if spec.get("required")}
    assert required.isdisjoint(role_defaults()), "a required option must not have a default"
    assert {"mattermost_db_password", "mattermost_cluster_name"} <= required


def test_renderer_variables_are_all_known_to_the_role() -> None:
    golden = yaml.safe_load((GOLDEN_APP_VARS / "app.yml").read_text(encoding="utf-8"))
    options = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    known = set(options["argument_specs"]["main"]["options"])
    # NFS mounting is not the role's job yet: those two are accepted and ignored.
    assert set(golden) - known == {"mattermost_nfs_server", "mattermost_nfs_export"}
