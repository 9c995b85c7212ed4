"""The 67 CMMLU subjects and their two category schemes. Source: PROTOCOLS.md §2.2.

Official CMMLU puts a subject in every category one of its subcategories maps to, so the 15
China-specific subjects also count in STEM/Humanities/Social Science/Other (overlapping).
CLA2's eval.py overwrites while iterating the categories in order, so those 15 end up *only*
in "China specific" (disjoint). Both are derived here from one table so they cannot drift apart.
"""

from __future__ import annotations

CHINA_SPECIFIC = "China specific"
CATEGORIES: tuple[str, ...] = ("STEM", "Humanities", "Social Science", "Other", CHINA_SPECIFIC)

# Official membership of the four topical categories (China-specific subjects included).
_BY_CATEGORY: dict[str, str] = {
    "STEM": """anatomy 解剖学; astronomy 天文学; college_actuarial_science 大学精算学;
        college_engineering_hydrology 大学工程水文学; college_mathematics 大学数学;
        college_medical_statistics 大学医学统计; computer_science 计算机科学; conceptual_physics 概念物理学;
        electrical_engineering 电气工程; elementary_mathematics 初等数学; genetics 遗传学;
        high_school_biology 高中生物; high_school_chemistry 高中化学; high_school_mathematics 高中数学;
        high_school_physics 高中物理学; machine_learning 机器学习; virology 病毒学""",
    "Humanities": """arts 艺术学; chinese_history 中国历史; chinese_literature 中国文学; college_law 大学法律;
        global_facts 全球事实; international_law 国际法学; jurisprudence 法理学; logical 逻辑学;
        marxist_theory 马克思主义理论; philosophy 哲学; professional_law 专业法学; world_history 世界历史;
        world_religions 世界宗教""",
    "Social Science": """ancient_chinese 古汉语; business_ethics 商业伦理; chinese_civil_service_exam 中国公务员考试;
        chinese_food_culture 中国饮食文化; chinese_foreign_policy 中国外交政策;
        chinese_teacher_qualification 中国教师资格; college_education 大学教育学; economics 经济学;
        education 教育学; elementary_chinese 小学语文; ethnology 民族学; high_school_geography 高中地理;
        high_school_politics 高中政治; journalism 新闻学; management 管理学; marketing 市场营销;
        modern_chinese 现代汉语; professional_accounting 专业会计; professional_psychology 专业心理学;
        public_relations 公共关系; security_study 安全研究; sociology 社会学""",
    "Other": """agronomy 农学; chinese_driving_rule 中国驾驶规则; clinical_knowledge 临床知识; college_medicine 大学医学;
        computer_security 计算机安全; construction_project_management 建设工程管理;
        elementary_commonsense 小学常识; elementary_information_and_technology 小学信息技术;
        food_science 食品科学; human_sexuality 人类性行为; legal_and_moral_basis 法律与道德基础;
        nutrition 营养学; professional_medicine 专业医学; sports_science 体育学;
        traditional_chinese_medicine 中医中药""",
}

_CHINA_SPECIFIC_HANDLES: frozenset[str] = frozenset(
    """ancient_chinese chinese_civil_service_exam chinese_driving_rule chinese_food_culture chinese_foreign_policy
    chinese_history chinese_literature chinese_teacher_qualification construction_project_management
    elementary_chinese elementary_commonsense ethnology high_school_politics modern_chinese
    traditional_chinese_medicine""".split()
)

# handle -> (Chinese name, official categories). Sorted by handle, the order CMMLU lists results in.
SUBJECTS: dict[str, tuple[str, tuple[str, ...]]] = {}
# handle -> the one category CLA2 reports it under.
CLA2_CATEGORY: dict[str, str] = {}


def _build() -> None:
    table: dict[str, tuple[str, tuple[str, ...]]] = {}
    for category, text in _BY_CATEGORY.items():
        for entry in text.split(";"):
            handle, zh = entry.split()
            extra = (CHINA_SPECIFIC,) if handle in _CHINA_SPECIFIC_HANDLES else ()
            table[handle] = (zh, (category, *extra))
            CLA2_CATEGORY[handle] = CHINA_SPECIFIC if extra else category
    SUBJECTS.update(sorted(table.items()))


_build()


def chinese_name(handle: str) -> str:
    """The Chinese subject name official CMMLU puts in its prompt header (e.g. 计算机科学)."""
    return SUBJECTS[handle][0]


def official_categories(handle: str) -> tuple[str, ...]:
    """Every category a subject counts in under the official (overlapping) scheme."""
    return SUBJECTS[handle][1]
