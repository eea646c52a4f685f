"""Console strings of the alliance page (issue #20) in zh-CN and English, merged into the
console catalogue by :mod:`lendguard.console.i18n` (keys it already has keep their text)."""

from __future__ import annotations

LEGAL_BASIS = (
    "PIPL Art. 13(1)(3) and Art. 23; Anti-Telecom and Online Fraud Law Art. 18 and 31 "
    "(information sharing against fraud)"
)

ALLIANCE_ZH: dict[str, str] = {
    "Anti-fraud alliance": "反欺诈联盟",
    "Alliance members": "联盟成员",
    "This lender": "本机构",
    "Member id": "成员编号",
    "Address": "地址",
    "Public key": "公钥",
    "Added": "加入时间",
    "No members yet.": "尚无联盟成员。",
    "The alliance is not configured on this server: set the member id and signing key.": (
        "本服务器尚未配置联盟：请设置成员编号和签名密钥。"
    ),
    "Our alliance list": "本机构联盟名单",
    "Identifiers on the list, per kind. The values themselves are never shown here.": (
        "名单上的身份信息数量（按种类）。此处不显示任何具体信息。"
    ),
    "Identifier kind": "身份信息种类",
    "On the list": "在名单上",
    "Exchanges": "交换记录",
    "Every exchange with another member, as both sides record it: counts only, never the "
    "identifiers.": "与其他成员的每一次交换（双方均有记录）：只记录数量，从不记录身份信息。",
    "Exchange": "交换类型",
    "Role": "角色",
    "Peer": "对方成员",
    "List kind": "名单种类",
    "Mode": "方式",
    "Items": "条目数",
    "Peer's items": "对方条目数",
    "Matched": "匹配数",
    "Legal basis": "法律依据",
    "Started": "开始时间",
    "Took": "耗时",
    "Any": "全部",
    "Filter": "筛选",
    "No exchanges match.": "没有符合条件的交换记录。",
    "These filters cannot be used.": "无法使用这些筛选条件。",
    "Showing the newest %s exchanges.": "显示最新的 %s 条交换记录。",
    "Choose one of the values offered.": "请从提供的选项中选择。",
    "Enter a member id: letters, digits, dot, dash or underscore, at most 64.": (
        "请输入成员编号：字母、数字、点、连字符或下划线，最多 64 个字符。"
    ),
    "all members": "全体成员",
    "%s ms": "%s 毫秒",
    # values from code
    "psi": "名单比对（隐私求交）",
    "lookup": "单人查询",
    "aggregation": "统计汇总",
    "requester": "发起方",
    "responder": "应答方",
    "aggregator": "汇总方",
    "contributor": "参与方",
    "intersection": "交集",
    "cardinality": "仅交集数量",
    "sum": "求和",
    "done": "已完成",
    "refused": "已拒绝",
    "failed": "失败",
    "resident_id": "居民身份证号",
    "mobile": "手机号",
    "card": "银行卡",
    "device_id": "设备编号",
    "active": "有效",
    "removed": "已移除",
    LEGAL_BASIS: (
        "《个人信息保护法》第十三条第一款第三项及第二十三条；"
        "《反电信网络诈骗法》第十八条、第三十一条（反诈信息共享）"
    ),
}

ALLIANCE_EN: dict[str, str] = {
    "psi": "List match (private set intersection)",
    "lookup": "Single lookup",
    "aggregation": "Statistics round",
    "requester": "Requester",
    "responder": "Responder",
    "aggregator": "Aggregator",
    "contributor": "Contributor",
    "intersection": "Intersection",
    "cardinality": "Count only",
    "sum": "Sum",
    "done": "Done",
    "refused": "Refused",
    "failed": "Failed",
    "resident_id": "Resident ID number",
    "mobile": "Mobile number",
    "card": "Bank card",
    "device_id": "Device id",
    "active": "Active",
    "removed": "Removed",
}

ALLIANCE_ENUMS: dict[str, tuple[str, ...]] = {
    "alliance exchanges": ("psi", "lookup", "aggregation"),
    "alliance roles": ("requester", "responder", "aggregator", "contributor"),
    "alliance modes": ("intersection", "cardinality", "lookup", "sum"),
    "alliance statuses": ("done", "refused", "failed"),
    "alliance list kinds": ("resident_id", "mobile", "card", "device_id"),
    "alliance member statuses": ("active", "removed"),
}
