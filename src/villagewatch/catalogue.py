# ruff: noqa: RUF001 - the Chinese texts use full-width punctuation on purpose
"""Alert messages, alert kinds and detector names in Chinese and English: the one catalogue.

A detector says what happened as a message key and its parameters
(:class:`Said`); the alert keeps both, and each reader — the console, a
notification channel, the CLI, a report — renders them in its own language
with :func:`alert_text`. The English text is also stored as the alert's
``message``: what a reader with no catalogue (an old alert, a log line) shows.

Templates hold ``{name}`` fields filled from the parameters, already formatted
by the detector (numbers through :func:`num`), and two filters: ``{x|kind}``
names the alert kind ``x`` and ``{x|place}`` the place with id ``x`` (its
configured name when the reader knows it; ``x`` is a village id). Notification phrases
(``notify.*``) are here too. The console's
``api/console/alerttext.js`` holds the same keys (a unit test compares them);
change both together. This module imports nothing of villagewatch: detectors,
the alert side and the API all read it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "DEFAULT_LOCALE",
    "EN",
    "LOCALES",
    "ZH",
    "Locale",
    "Said",
    "alert_text",
    "detector_name",
    "kind_name",
    "num",
    "phrase",
    "render",
]

Locale = Literal["zh", "en"]
LOCALES: Final = ("zh", "en")
DEFAULT_LOCALE: Final[Locale] = "zh"

ZH: Final[dict[str, str]] = {
    # water_level: the text names the level the reading is measured against, with its value
    "msg.water_level.below_warning": (
        "{label}：水位 {value} 厘米，距警戒水位（{warning} 厘米）还差 {gap} 厘米"
    ),
    "msg.water_level.above_warning": "{label}：水位 {value} 厘米，已达警戒水位（{warning} 厘米）",
    "msg.water_level.above_guaranteed": (
        "{label}：水位 {value} 厘米，已达保证水位（{guaranteed} 厘米）"
    ),
    "msg.water_level.above_record": (
        "{label}：水位 {value} 厘米，已达历史最高水位（{record} 厘米）"
    ),
    "msg.water_level.down": (
        "{label}：水位回落到 {value} 厘米，低于各告警水位（警戒水位 {warning} 厘米）"
    ),
    "msg.water_rise.fire": "{label}：{minutes} 分钟内水位上涨 {rise} 厘米（现 {value} 厘米）",
    "msg.water_rise.clear": "{label}：水位不再快速上涨（现 {value} 厘米）",
    "msg.rain.fire": "{label}：{hours} 小时降雨 {mm} 毫米",
    "msg.rain.clear": "{label}：降雨减弱（{hours} 小时累计 {mm} 毫米）",
    "msg.lock.forced_open": "{label}：门被强行打开",
    "msg.lock.tamper": "{label}：有人在破坏门锁",
    "msg.lock.jammed": "{label}：门锁卡住",
    "msg.lock.door_ajar": "{label}：门已打开 {minutes} 分钟",
    "msg.lock.low_battery": "{label}：门锁电量低",
    "msg.lock.battery_at": "{label}：门锁电量 {percent}%",
    "msg.lock.wrong_codes": "{label}：{seconds} 秒内输错密码 {count} 次",
    "msg.lock.opened_after_wrong_codes": (
        "{label}：输错密码 {count} 次后门被打开，请核实是否为租户本人"
    ),
    "msg.lock.opened_with_after_wrong_codes": (
        "{label}：输错密码 {count} 次后用凭证 {credential} 开门，请核实是否为租户本人"
    ),
    "msg.lock.wrong_codes_over": "{label}：不再有输错密码（告警待人工关闭）",
    "msg.lock.unregistered_credential": (
        "{label}：用凭证 {credential} 开门，该凭证未登记给本房屋的现租户"
    ),
    "msg.lock.works_again": "{label}：门锁恢复正常",
    "msg.lock.door_closed": "{label}：门已关上",
    "msg.sos.fire": "{label} 有人按下一键报警",
    "msg.camera.fire": "{label}：区域 {zone} 发现{detection|kind}",
    "msg.camera.fire_dwell": "{label}：区域 {zone} 发现{detection|kind}，已持续 {minutes} 分钟",
    "msg.camera.fire_dwell_seen": (
        "{label}：区域 {zone} 发现{detection|kind}，已持续 {minutes} 分钟（识别为 {what}）"
    ),
    "msg.camera.clear": "{label}：区域 {zone} 的{detection|kind}已消失",
    "msg.offline.device": "{label} 已 {minutes} 分钟没有发送数据",
    "msg.offline.back": "{label} 恢复在线",
    "msg.offline.village_down": (
        "{village|place}：{total} 台设备中 {count} 台同时失联，可能是网络或供电故障"
    ),
    "msg.offline.village_back": "{village|place}：设备恢复上报",
    "msg.offline.edge_down": "边缘网关 {edge} 断开连接，其后 {count} 台设备无数据",
    "msg.offline.edge_back": "边缘网关 {edge} 恢复在线",
    "msg.disk.filling": "磁盘 {filesystem} 空间不足：剩余 {gb} GB（{percent}%），存放 {folders}",
    "msg.disk.free_again": "磁盘 {filesystem}：剩余空间恢复到 {percent}%",
    "msg.health.range": "{label}：{metric} 读数 {value} 超出传感器量程",
    "msg.health.range_passes": "{label}：{metric} 量程检查恢复正常",
    "msg.health.flat": "{label}：{metric} 已 {hours} 小时没有变化，传感器可能卡住",
    "msg.health.flat_passes": "{label}：{metric} 数值恢复变化",
    "msg.health.spike": "{label}：{metric} 从约 {baseline} 跳到 {value}，恢复前读数视为可疑",
    "msg.health.spike_back": "{label}：{metric} 跳变结束（回到原水平，现 {value}）",
    "msg.health.spike_level": "{label}：{metric} 跳变结束（确为水平变化，现 {value}）",
    "msg.health.spike_settled": "{label}：{metric} 跳变结束（读数稳定，确为水平变化，现 {value}）",
    "msg.anomaly.fire": "{label}：{metric} 读数 {value} 与以往不同（异常分 {score}）",
    "msg.anomaly.clear": "{label}：{metric} 恢复正常（现 {value}）",
    "msg.removed": "{subject}：{kind|kind}告警结束，设备已从配置中删除",
    # notifications: the severity tag, what happened, a replayed backlog
    "notify.sev.info": "[提示]",
    "notify.sev.blue": "[蓝色]",
    "notify.sev.yellow": "[黄色]",
    "notify.sev.orange": "[橙色]",
    "notify.sev.red": "[红色]",
    "notify.fired": "",
    "notify.severity": "加重：",
    "notify.acknowledged": "{by} 已确认：",
    "notify.escalated": "无人确认，已上报：",
    "notify.flapping": "反复出现（抖动）：",
    "notify.resolved": "已解决：",
    "notify.resolved_by": "{by} 已解决：",
    "notify.backlog": "（补报）",
    "notify.digest": "{count} 条{kind|kind}告警{event} — {place}",
    "notify.event.fired": "",
    "notify.event.severity": "加重",
    "notify.event.acknowledged": "已确认",
    "notify.event.escalated": "已上报",
    "notify.event.flapping": "反复出现",
    "notify.event.resolved": "已解决",
    # alert kinds
    "akind.level": "水位",
    "akind.rise": "水位陡升",
    "akind.rain": "降雨",
    "akind.sos": "一键报警",
    "akind.forced_open": "强行开门",
    "akind.tamper": "破坏门锁",
    "akind.jammed": "门锁卡住",
    "akind.door_ajar": "门未关",
    "akind.wrong_codes": "多次输错密码",
    "akind.unregistered_credential": "未登记凭证开门",
    "akind.low_battery": "电量低",
    "akind.illegal_parking": "违规停车",
    "akind.exposed_garbage": "垃圾暴露",
    "akind.street_vending": "占道经营",
    "akind.river_debris": "河道漂浮物",
    "akind.device_offline": "设备离线",
    "akind.link_down": "网络中断",
    "akind.disk_low": "磁盘空间不足",
    "akind.range": "超出量程",
    "akind.flat": "读数不变",
    "akind.spike": "读数跳变",
    "akind.anomaly": "数据异常",
    # detectors
    "detector.water_level": "水位",
    "detector.water_rise": "水位陡升",
    "detector.rain": "降雨",
    "detector.lock": "智能门锁",
    "detector.sos": "一键报警",
    "detector.camera": "摄像头",
    "detector.offline": "离线检测",
    "detector.disk": "磁盘",
    "detector.health": "传感器自检",
    "detector.anomaly": "异常检测",
}

EN: Final[dict[str, str]] = {
    "msg.water_level.below_warning": (
        "{label}: water at {value} cm, {gap} cm below the warning level ({warning} cm)"
    ),
    "msg.water_level.above_warning": (
        "{label}: water at {value} cm, above the warning level (警戒水位) ({warning} cm)"
    ),
    "msg.water_level.above_guaranteed": (
        "{label}: water at {value} cm, above the guaranteed level (保证水位) ({guaranteed} cm)"
    ),
    "msg.water_level.above_record": (
        "{label}: water at {value} cm, above the highest level on record ({record} cm)"
    ),
    "msg.water_level.down": (
        "{label}: water down to {value} cm, below every alert level (warning level {warning} cm)"
    ),
    "msg.water_rise.fire": "{label}: water rose {rise} cm in {minutes} min (now {value} cm)",
    "msg.water_rise.clear": "{label}: water no longer rising fast (now {value} cm)",
    "msg.rain.fire": "{label}: {mm} mm of rain in {hours} h",
    "msg.rain.clear": "{label}: rain has eased ({mm} mm in {hours} h)",
    "msg.lock.forced_open": "{label}: the door was forced open",
    "msg.lock.tamper": "{label}: someone is tampering with the lock",
    "msg.lock.jammed": "{label}: the lock is jammed",
    "msg.lock.door_ajar": "{label}: the door has been open for {minutes} min",
    "msg.lock.low_battery": "{label}: the lock's battery is low",
    "msg.lock.battery_at": "{label}: the lock's battery is at {percent} %",
    "msg.lock.wrong_codes": "{label}: {count} wrong codes within {seconds} s",
    "msg.lock.opened_after_wrong_codes": (
        "{label}: opened after {count} wrong codes; check that it was the tenant"
    ),
    "msg.lock.opened_with_after_wrong_codes": (
        "{label}: opened with credential {credential} after {count} wrong codes; "
        "check that it was the tenant"
    ),
    "msg.lock.wrong_codes_over": "{label}: no more wrong codes (the alert waits for a person)",
    "msg.lock.unregistered_credential": (
        "{label}: opened with credential {credential}, "
        "not registered to the house's current tenants"
    ),
    "msg.lock.works_again": "{label}: the lock works again",
    "msg.lock.door_closed": "{label}: the door is closed",
    "msg.sos.fire": "SOS pressed at {label}",
    "msg.camera.fire": "{label}: {detection|kind} in zone {zone}",
    "msg.camera.fire_dwell": "{label}: {detection|kind} in zone {zone} for {minutes} min",
    "msg.camera.fire_dwell_seen": (
        "{label}: {detection|kind} in zone {zone} for {minutes} min (seen as {what})"
    ),
    "msg.camera.clear": "{label}: {detection|kind} in zone {zone} is gone",
    "msg.offline.device": "{label} has sent nothing for {minutes} min",
    "msg.offline.back": "{label} is back online",
    "msg.offline.village_down": (
        "{village|place}: {count} of {total} devices went silent together — a link or power problem"
    ),
    "msg.offline.village_back": "{village|place}: devices are reporting again",
    "msg.offline.edge_down": (
        "edge agent {edge} lost its link; {count} devices behind it are silent"
    ),
    "msg.offline.edge_back": "edge agent {edge} is back online",
    "msg.disk.filling": (
        "disk {filesystem} is filling up: {gb} GB ({percent} %) free; it holds {folders}"
    ),
    "msg.disk.free_again": "disk {filesystem}: {percent} % free again",
    "msg.health.range": "{label}: {metric} {value} is outside what the sensor can report",
    "msg.health.range_passes": "{label}: {metric} range test passes again",
    "msg.health.flat": "{label}: {metric} has not changed for {hours} h; stuck?",
    "msg.health.flat_passes": "{label}: {metric} flat test passes again",
    "msg.health.spike": (
        "{label}: {metric} jumped to {value} from around {baseline}; "
        "readings are held as suspect until it returns"
    ),
    "msg.health.spike_back": "{label}: {metric} spike over (back to its level, now {value})",
    "msg.health.spike_level": "{label}: {metric} spike over (a real change of level, now {value})",
    "msg.health.spike_settled": (
        "{label}: {metric} spike over (a real change of level: the readings hold together, "
        "now {value})"
    ),
    "msg.anomaly.fire": "{label}: {metric} {value} is unlike this series' past (score {score})",
    "msg.anomaly.clear": "{label}: {metric} behaves as usual again (now {value})",
    "msg.removed": "{subject}: {kind|kind} alert ends, removed from config",
    # the colours keep their Chinese names: they are the official warning levels
    "notify.sev.info": "[info]",
    "notify.sev.blue": "[蓝色 blue]",
    "notify.sev.yellow": "[黄色 yellow]",
    "notify.sev.orange": "[橙色 orange]",
    "notify.sev.red": "[红色 red]",
    "notify.fired": "",
    "notify.severity": "worse: ",
    "notify.acknowledged": "acknowledged by {by}: ",
    "notify.escalated": "not acknowledged, escalated: ",
    "notify.flapping": "keeps coming and going (flapping): ",
    "notify.resolved": "resolved: ",
    "notify.resolved_by": "resolved by {by}: ",
    "notify.backlog": " (from backlog)",
    # the English digest's title names the kind and the place by their ids, as before
    "notify.digest": "{count} alerts: {kind} {event} — {place_id}",
    "notify.event.fired": "fired",
    "notify.event.severity": "worse",
    "notify.event.acknowledged": "acknowledged",
    "notify.event.escalated": "escalated",
    "notify.event.flapping": "flapping",
    "notify.event.resolved": "resolved",
    "akind.level": "water level",
    "akind.rise": "fast rise",
    "akind.rain": "rain",
    "akind.sos": "SOS",
    "akind.forced_open": "forced open",
    "akind.tamper": "tampering",
    "akind.jammed": "lock jammed",
    "akind.door_ajar": "door ajar",
    "akind.wrong_codes": "wrong codes",
    "akind.unregistered_credential": "unregistered credential",
    "akind.low_battery": "low battery",
    "akind.illegal_parking": "illegal parking",
    "akind.exposed_garbage": "exposed garbage",
    "akind.street_vending": "street vending",
    "akind.river_debris": "river debris",
    "akind.device_offline": "device offline",
    "akind.link_down": "link down",
    "akind.disk_low": "disk low",
    "akind.range": "out of range",
    "akind.flat": "flat line",
    "akind.spike": "spike",
    "akind.anomaly": "anomaly",
    "detector.water_level": "water level",
    "detector.water_rise": "water rise",
    "detector.rain": "rain",
    "detector.lock": "smart lock",
    "detector.sos": "SOS button",
    "detector.camera": "camera",
    "detector.offline": "offline watch",
    "detector.disk": "disk",
    "detector.health": "sensor health",
    "detector.anomaly": "anomaly detection",
}

_CATALOGUES: Final[Mapping[str, Mapping[str, str]]] = {"zh": ZH, "en": EN}
_FIELD = re.compile(r"\{(\w+)(?:\|(kind|place))?\}")


@dataclass(frozen=True, slots=True)
class Said:
    """What a detector says: a message key (without ``msg.``) and its parameters."""

    key: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The English text, kept as the alert's ``message``."""
        return render(self.key, self.params, "en")


def num(value: float) -> str:
    """A number as messages show it: at most one decimal, no trailing zeros, never an
    exponent (274.8, 200, 1234567); the same in every language."""
    text = f"{float(value):.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def kind_name(kind: str, locale: Locale) -> str:
    """An alert kind in ``locale``; a kind with a metric (``spike:level_cm``) keeps the
    metric; an unknown kind stays as it is."""
    base, _, metric = kind.partition(":")
    name = _CATALOGUES[locale].get(f"akind.{base}")
    if name is None:
        return kind
    return f"{name} ({metric})" if metric else name


def detector_name(detector: str, locale: Locale) -> str:
    """A detector's name in ``locale``; an unknown one stays as it is."""
    return _CATALOGUES[locale].get(f"detector.{detector}", detector)


def render(
    key: str,
    params: Mapping[str, str],
    locale: Locale,
    *,
    places: Mapping[str, str] | None = None,
) -> str:
    """The message ``key`` (without ``msg.``) in ``locale``, its fields filled from
    ``params``; ``places`` (place id → name) names the places. KeyError when ``key`` is
    not in the catalogue; a missing parameter leaves its field as written."""
    return _fill(_CATALOGUES[locale][f"msg.{key}"], params, locale, places)


def phrase(key: str, locale: Locale, **params: str) -> str:
    """Any entry of the catalogue by its full key (``notify.severity``), fields filled."""
    return _fill(_CATALOGUES[locale][key], params, locale, None)


def _fill(
    template: str, params: Mapping[str, str], locale: Locale, places: Mapping[str, str] | None
) -> str:
    def fill(m: re.Match[str]) -> str:
        name, how = m.group(1), m.group(2)
        if name not in params:
            return m.group(0)
        value = str(params[name])
        if how == "kind":
            return kind_name(value, locale)
        if how == "place":
            return (places or {}).get(value, value)
        return value

    return _FIELD.sub(fill, template)


def alert_text(
    message_key: str | None,
    params: Mapping[str, str] | None,
    stored: str,
    locale: Locale,
    *,
    places: Mapping[str, str] | None = None,
) -> str:
    """An alert's message in ``locale``: its key rendered, or its ``stored`` text when it
    has no key (an alert from before keys were kept) or one this version does not know."""
    if not message_key or f"msg.{message_key}" not in _CATALOGUES[locale]:
        return stored
    return render(message_key, params or {}, locale, places=places)
