"""Static tables for the demo hospital 示例市第一人民医院. All names, numbers and places are fictitious.

Identifiers follow the spec's examples: campuses ``C01``; departments ``D0301`` (``D`` + campus digit + group digit +
two digits; ``xx00`` are the non-bookable parent groups); doctors ``DR10023``; patients ``P000123456``.
"""

from __future__ import annotations

from typing import Any

HOSPITAL_NAME = "示例市第一人民医院"

CAMPUSES: list[dict[str, Any]] = [
    {
        "campus_id": "C01",
        "name": "本部院区",
        "short_name": "本部",
        "address": "示例市中山区人民路88号",
        # GCJ-02, within a few hundred metres of the check-in location used in the spec's example 08
        "latitude": 30.124512,
        "longitude": 120.122831,
        "phone": "0000-8800 1200",
        "transport": "地铁1号线人民路站B出口向东步行约300米；公交12路、36路、K88路至“第一人民医院”站下车。"
        "院内地下停车场约400个车位，工作日上午车位紧张，建议乘坐公共交通。",
        "buildings": {
            "门诊楼": {
                "1F": ["挂号收费处", "西药房", "中药房", "自助服务区"],
                "2F": ["201诊室", "202诊室", "203诊室", "204诊室", "205诊室", "206诊室", "儿科输液室"],
                "3F": ["301诊室", "302诊室", "303诊室", "304诊室", "305诊室", "306诊室", "307诊室", "308诊室",
                       "309诊室", "310诊室", "311诊室", "312诊室", "313诊室", "314诊室", "315诊室", "316诊室",
                       "317诊室", "318诊室", "319诊室"],
                "4F": ["401诊室", "402诊室", "403诊室", "404诊室", "405诊室", "406诊室", "407诊室", "408诊室",
                       "409诊室", "换药室"],
                "5F": ["501诊室", "502诊室", "503诊室", "504诊室", "505诊室", "506诊室", "507诊室", "508诊室",
                       "509诊室", "510诊室", "特需门诊区"],
                "6F": ["601诊室", "602诊室", "603诊室", "604诊室", "605诊室", "606诊室", "607诊室", "608诊室",
                       "609诊室"],
            },
            "医技楼": {
                "1F": ["放射科", "CT室", "MR室"],
                "2F": ["超声科", "检验科采血处", "心电图室"],
                "3F": ["内镜中心"],
                "4F": ["康复治疗大厅", "411诊室", "412诊室", "413诊室"],
            },
        },
    },
    {
        "campus_id": "C02",
        "name": "东院区",
        "short_name": "东院",
        "address": "示例市东湖区滨江大道1666号",
        "latitude": 30.141806,
        "longitude": 120.187644,
        "phone": "0000-8800 3300",
        "transport": "地铁3号线滨江大道站D出口步行约500米；公交57路、203路至“东院区”站下车。"
        "门诊楼北侧地面停车场约200个车位。本部院区与东院区之间工作日每30分钟有免费接驳车。",
        "buildings": {
            "综合楼": {
                "1F": ["挂号收费处", "药房", "自助服务区", "101诊室", "102诊室", "103诊室"],
                "2F": ["201诊室", "202诊室", "203诊室", "204诊室", "205诊室", "206诊室", "207诊室", "208诊室"],
                "3F": ["301诊室", "302诊室", "303诊室", "304诊室", "305诊室", "306诊室"],
            },
            "医技楼": {
                "1F": ["放射科", "超声科", "检验科采血处"],
            },
        },
    },
]

# Parent groups (bookable: false). id -> (campus_id, name, sort_order)
PARENT_DEPARTMENTS: dict[str, tuple[str, str, int]] = {
    "D0300": ("C01", "内科", 100),
    "D0400": ("C01", "外科", 200),
    "D0500": ("C01", "妇产科", 300),
    "D0600": ("C01", "儿科", 400),
    "D0700": ("C01", "五官科", 500),
    "D0800": ("C01", "其他", 600),
    "D1300": ("C02", "内科", 1100),
    "D1400": ("C02", "外科", 1200),
    "D1600": ("C02", "儿科", 1400),
    "D1800": ("C02", "其他", 1600),
}

# Bookable departments: id -> (name, building, floor, rooms, wayfinding, restrictions)
# restrictions: (gender_restriction, min_age_years, max_age_years)
_ANY: tuple[str, int | None, int | None] = ("any", None, None)
BOOKABLE_DEPARTMENTS: dict[str, tuple[str, str, str, list[str], str, tuple[str, int | None, int | None]]] = {
    "D0301": ("心血管内科", "门诊楼", "3F", ["305诊室", "307诊室", "306诊室", "308诊室"], "出电梯右转，心血管内科B区", _ANY),
    "D0302": ("呼吸内科", "门诊楼", "3F", ["301诊室", "302诊室", "303诊室"], "出电梯左转，呼吸内科A区", _ANY),
    "D0303": ("消化内科", "门诊楼", "3F", ["309诊室", "310诊室", "311诊室"], "出电梯右转直行，消化内科C区", _ANY),
    "D0304": ("神经内科", "门诊楼", "3F", ["312诊室", "313诊室", "314诊室"], "出电梯右转到底，神经内科D区", _ANY),
    "D0305": ("内分泌科", "门诊楼", "3F", ["315诊室", "316诊室"], "出电梯左转到底，内分泌科E区", _ANY),
    "D0306": ("老年医学科", "门诊楼", "3F", ["317诊室", "318诊室"], "出电梯正对面，老年医学科F区（有无障碍通道）", _ANY),
    "D0401": ("普通外科", "门诊楼", "4F", ["401诊室", "402诊室", "403诊室"], "出电梯左转，外科A区", _ANY),
    "D0402": ("骨科", "门诊楼", "4F", ["404诊室", "405诊室", "406诊室"], "出电梯右转，外科B区", _ANY),
    "D0403": ("泌尿外科", "门诊楼", "4F", ["407诊室", "408诊室"], "出电梯右转到底，外科C区", _ANY),
    "D0501": ("妇科", "门诊楼", "5F", ["501诊室", "502诊室", "503诊室"], "出电梯左转，妇科诊区", ("female", None, None)),
    "D0502": ("产科", "门诊楼", "5F", ["504诊室", "505诊室"], "出电梯左转到底，产科诊区（孕妇休息区旁）",
              ("female", None, None)),
    "D0601": ("小儿内科", "门诊楼", "2F", ["201诊室", "202诊室", "203诊室", "204诊室"], "二楼儿科诊区，候诊区设母婴室",
              ("any", None, 14)),
    "D0602": ("小儿外科", "门诊楼", "2F", ["205诊室", "206诊室"], "二楼儿科诊区东侧", ("any", None, 14)),
    "D0701": ("眼科", "门诊楼", "6F", ["601诊室", "602诊室", "603诊室"], "出电梯左转，眼科诊区（暗室检查在603）", _ANY),
    "D0702": ("耳鼻喉科", "门诊楼", "6F", ["604诊室", "605诊室", "606诊室"], "出电梯右转，耳鼻喉科诊区", _ANY),
    "D0703": ("口腔科", "门诊楼", "6F", ["607诊室", "608诊室", "609诊室"], "出电梯直行到底，口腔科诊区", _ANY),
    "D0801": ("皮肤科", "门诊楼", "5F", ["506诊室", "507诊室"], "出电梯右转，皮肤科诊区", _ANY),
    "D0802": ("中医科", "门诊楼", "5F", ["508诊室", "509诊室", "510诊室"], "出电梯右转到底，中医科诊区（中药房在1F）", _ANY),
    "D0803": ("康复医学科", "医技楼", "4F", ["411诊室", "412诊室", "413诊室"], "经门诊楼2F连廊进入医技楼，乘电梯至4F", _ANY),
    "D1301": ("心血管内科", "综合楼", "2F", ["201诊室", "202诊室"], "出电梯左转，内科诊区", _ANY),
    "D1302": ("呼吸内科", "综合楼", "2F", ["203诊室", "204诊室"], "出电梯左转，内科诊区", _ANY),
    "D1303": ("消化内科", "综合楼", "2F", ["205诊室", "206诊室"], "出电梯右转，内科诊区", _ANY),
    "D1305": ("内分泌科", "综合楼", "2F", ["207诊室", "208诊室"], "出电梯右转到底，内科诊区", _ANY),
    "D1401": ("普通外科", "综合楼", "3F", ["301诊室", "302诊室"], "出电梯左转，外科诊区", _ANY),
    "D1402": ("骨科", "综合楼", "3F", ["303诊室", "304诊室"], "出电梯右转，外科诊区", _ANY),
    "D1601": ("小儿内科", "综合楼", "1F", ["101诊室", "102诊室"], "一楼大厅西侧儿科诊区", ("any", None, 14)),
    "D1802": ("中医科", "综合楼", "3F", ["305诊室", "306诊室"], "出电梯直行，中医科诊区", _ANY),
}

DEPARTMENT_INTROS: dict[str, str] = {
    "心血管内科": "心血管内科是市级重点专科，开展高血压、冠心病、心力衰竭、心律失常的规范化诊治，"
    "设有胸痛中心，可开展冠脉介入及起搏器植入等治疗。",
    "呼吸内科": "呼吸内科诊治慢性阻塞性肺疾病、支气管哮喘、肺部感染、肺结节等疾病，开展肺功能检查和支气管镜诊疗。",
    "消化内科": "消化内科诊治胃炎、消化性溃疡、炎症性肠病、肝病及胰胆疾病，内镜中心可开展无痛胃肠镜及内镜下治疗。",
    "神经内科": "神经内科诊治脑血管病、头痛、头晕、癫痫、帕金森病及认知障碍，设有卒中中心绿色通道。",
    "内分泌科": "内分泌科诊治糖尿病、甲状腺疾病、骨质疏松及肾上腺、垂体疾病，开设糖尿病健康教育门诊。",
    "老年医学科": "老年医学科为老年患者提供多病共存管理、用药评估、跌倒与营养风险评估等综合诊疗服务。",
    "普通外科": "普通外科开展甲状腺、乳腺、胃肠、肝胆及疝等疾病的外科治疗，擅长腹腔镜微创手术。",
    "骨科": "骨科诊治骨折创伤、颈肩腰腿痛、关节疾病及运动损伤，开展关节置换、脊柱及关节镜手术。",
    "泌尿外科": "泌尿外科诊治泌尿系结石、前列腺疾病、泌尿系肿瘤等，开展输尿管软镜碎石等微创治疗。",
    "妇科": "妇科诊治月经失调、子宫肌瘤、卵巢囊肿、宫颈疾病等，开展宫腹腔镜微创手术和宫颈癌筛查。",
    "产科": "产科提供孕前咨询、孕期保健、产前检查及高危妊娠管理，建档后可预约孕期系列产检。",
    "小儿内科": "小儿内科面向14岁及以下儿童，诊治呼吸道感染、腹泻、发热等常见病，开设儿童夜间门诊。",
    "小儿外科": "小儿外科面向14岁及以下儿童，诊治疝气、包茎、骨折及体表肿物等儿童外科疾病。",
    "眼科": "眼科诊治白内障、青光眼、眼底病、屈光不正及干眼症，开展白内障超声乳化等手术。",
    "耳鼻喉科": "耳鼻喉科诊治鼻炎、鼻窦炎、咽喉炎、中耳炎、听力下降及睡眠呼吸暂停。",
    "口腔科": "口腔科开展龋病、牙周病、拔牙、修复及儿童口腔诊疗，晚间设口腔夜诊。",
    "皮肤科": "皮肤科诊治湿疹、荨麻疹、痤疮、银屑病、真菌感染等常见皮肤病。",
    "中医科": "中医科运用中药、针灸、推拿等方法调理慢性病、失眠、月经不调及亚健康状态。",
    "康复医学科": "康复医学科为脑卒中、骨折术后、颈肩腰腿痛患者提供评估及物理治疗、作业治疗等康复服务。",
}

SPECIALTIES: dict[str, list[str]] = {
    "心血管内科": ["高血压", "冠心病", "心力衰竭", "心律失常", "冠脉介入治疗", "血脂异常"],
    "呼吸内科": ["慢性阻塞性肺疾病", "支气管哮喘", "肺部感染", "肺结节", "支气管镜诊疗", "慢性咳嗽"],
    "消化内科": ["胃食管反流病", "消化性溃疡", "炎症性肠病", "脂肪肝", "消化内镜诊疗", "幽门螺杆菌感染"],
    "神经内科": ["脑血管病", "头痛", "眩晕", "癫痫", "帕金森病", "认知障碍"],
    "内分泌科": ["糖尿病", "甲状腺疾病", "骨质疏松", "痛风", "肥胖症", "垂体疾病"],
    "老年医学科": ["老年多病共存", "老年综合评估", "用药管理", "老年营养不良", "跌倒风险评估"],
    "普通外科": ["甲状腺外科", "乳腺疾病", "胃肠肿瘤", "胆囊结石", "疝修补术", "腹腔镜微创手术"],
    "骨科": ["骨折创伤", "关节置换", "脊柱外科", "运动损伤", "颈肩腰腿痛", "骨质疏松性骨折"],
    "泌尿外科": ["泌尿系结石", "前列腺增生", "泌尿系肿瘤", "尿路感染", "输尿管软镜"],
    "妇科": ["子宫肌瘤", "卵巢囊肿", "宫颈疾病", "月经失调", "妇科内镜手术", "更年期综合征"],
    "产科": ["孕期保健", "高危妊娠", "妊娠期糖尿病", "妊娠期高血压", "产后康复"],
    "小儿内科": ["儿童呼吸道感染", "小儿腹泻", "儿童哮喘", "生长发育评估", "新生儿疾病"],
    "小儿外科": ["小儿疝气", "包茎", "儿童骨折", "体表肿物", "小儿阑尾炎"],
    "眼科": ["白内障", "青光眼", "眼底病", "屈光不正", "干眼症", "儿童斜弱视"],
    "耳鼻喉科": ["慢性鼻窦炎", "过敏性鼻炎", "中耳炎", "听力下降", "睡眠呼吸暂停", "咽喉疾病"],
    "口腔科": ["龋病", "牙周病", "智齿拔除", "口腔修复", "儿童口腔", "根管治疗"],
    "皮肤科": ["湿疹", "荨麻疹", "痤疮", "银屑病", "皮肤真菌病", "白癜风"],
    "中医科": ["失眠", "月经不调", "慢性胃病", "针灸推拿", "颈肩腰腿痛", "体质调理"],
    "康复医学科": ["脑卒中康复", "骨折术后康复", "颈椎病", "腰椎间盘突出症", "运动损伤康复"],
}

# Doctor roster per bookable department: title codes. The first two doctors of D0301 are the spec's examples.
TITLES = ("chief_physician", "associate_chief_physician", "attending_physician", "resident_physician")
ROSTER: dict[str, list[str]] = {
    "D0301": ["chief_physician", "associate_chief_physician", "chief_physician", "attending_physician"],
    "D0302": ["chief_physician", "associate_chief_physician", "attending_physician"],
    "D0303": ["chief_physician", "associate_chief_physician", "attending_physician"],
    "D0304": ["chief_physician", "associate_chief_physician", "attending_physician"],
    "D0305": ["chief_physician", "attending_physician"],
    "D0306": ["associate_chief_physician", "attending_physician"],
    "D0401": ["chief_physician", "associate_chief_physician", "attending_physician"],
    "D0402": ["chief_physician", "associate_chief_physician", "attending_physician"],
    "D0403": ["associate_chief_physician", "attending_physician"],
    "D0501": ["chief_physician", "associate_chief_physician", "attending_physician"],
    "D0502": ["associate_chief_physician", "attending_physician"],
    "D0601": ["chief_physician", "attending_physician", "resident_physician"],
    "D0602": ["associate_chief_physician"],
    "D0701": ["chief_physician", "attending_physician"],
    "D0702": ["associate_chief_physician", "attending_physician"],
    "D0703": ["associate_chief_physician", "attending_physician", "resident_physician"],
    "D0801": ["associate_chief_physician", "attending_physician"],
    "D0802": ["chief_physician", "attending_physician"],
    "D0803": ["attending_physician"],
    "D1301": ["associate_chief_physician"],
    "D1302": ["attending_physician"],
    "D1303": ["attending_physician"],
    "D1305": ["associate_chief_physician"],
    "D1401": ["attending_physician"],
    "D1402": ["associate_chief_physician"],
    "D1601": ["attending_physician", "resident_physician"],
    "D1802": ["attending_physician"],
}
# Main-campus departments whose chief also holds a session at the east campus department.
DUAL_CAMPUS: dict[str, str] = {"D0301": "D1301", "D0303": "D1303", "D0402": "D1402", "D0802": "D1802"}
# Chief physicians of these departments also run a weekly 特需门诊 session.
SPECIAL_NEEDS_DEPARTMENTS = ("D0301", "D0303", "D0402", "D0501")

ACADEMIC_TITLES: dict[str, list[str | None]] = {
    "chief_physician": ["教授", "教授、硕士研究生导师", None],
    "associate_chief_physician": ["副教授", None],
    "attending_physician": ["讲师", None, None],
    "resident_physician": [None],
}

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN_NAMES = [
    "建国", "晓燕", "志强", "海涛", "丽华", "文博", "雅琴", "俊杰", "秀英", "明辉", "静怡", "国栋", "红梅", "立新",
    "淑芬", "建华", "晓明", "伟", "芳", "敏", "磊", "洁", "涛", "婷", "宏伟", "丽娟", "志刚", "春燕", "永红", "卫东",
    "慧敏", "嘉怡", "浩然", "思远", "子涵", "一鸣", "雪梅", "凤英", "德明", "秋菊", "玉兰", "海燕", "振华", "瑞雪",
    "晨曦", "博文", "欣然", "正阳", "若兰", "家豪", "亚男", "庆华", "学军", "兰英", "少华", "光明", "美玲", "永刚",
]

INTRO_TEMPLATES = [
    "{name}，{title}{academic}。从事{dept}临床工作{years}年，擅长{specialties}的诊治。",
    "{name}，{title}{academic}，在{dept}从事临床、教学工作{years}年。擅长{specialties}。",
    "{title}{academic}，毕业于医科大学临床医学专业，从事{dept}工作{years}年，擅长{specialties}。",
]
YEARS_BY_TITLE: dict[str, tuple[int, int]] = {
    "chief_physician": (22, 35),
    "associate_chief_physician": (14, 22),
    "attending_physician": (7, 14),
    "resident_physician": (2, 6),
}

# Registration fees (fen). Components add up to the fee; the schedule's fee_fen is derived from these entries.
FEE_SCHEDULE: list[dict[str, Any]] = [
    {"reg_type": "general", "title_code": None, "campus_id": None,
     "components": [("诊察费", 1000)], "notes": "科室普通号（不指定医生）"},
    {"reg_type": "general", "title_code": "attending_physician", "campus_id": None,
     "components": [("诊察费", 1500)], "notes": None},
    {"reg_type": "general", "title_code": "resident_physician", "campus_id": None,
     "components": [("诊察费", 1000)], "notes": None},
    {"reg_type": "expert", "title_code": "associate_chief_physician", "campus_id": None,
     "components": [("诊察费", 3000)], "notes": None},
    {"reg_type": "expert", "title_code": "chief_physician", "campus_id": None,
     "components": [("诊察费", 5000)], "notes": None},
    {"reg_type": "special_needs", "title_code": None, "campus_id": "C01",
     "components": [("诊察费", 5000), ("特需医疗服务费", 25000)], "notes": "本部院区特需门诊，每次就诊约20分钟"},
    {"reg_type": "special_needs", "title_code": None, "campus_id": "C02",
     "components": [("诊察费", 5000), ("特需医疗服务费", 15000)], "notes": "东院区特需门诊"},
]

SESSION_TIMES: dict[str, tuple[str, str]] = {
    "morning": ("08:00", "12:00"),
    "afternoon": ("13:30", "17:00"),
    "evening": ("18:00", "21:00"),
}
