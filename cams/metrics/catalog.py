"""What each of the report's metrics is: its category (Quantus' six, less the axiomatic), which
way is better, what it needs beyond the model and the maps, and where it comes from."""
from dataclasses import asdict, dataclass

CATEGORIES = ("localisation", "faithfulness", "robustness", "complexity", "randomisation")


@dataclass(frozen=True)
class Metric:
    """One metric as the report shows it.

    Attributes:
        key (str): its key in the report's rows and JSON.
        header (str): its column's header, with an arrow saying which way is better.
        category (str): one of CATEGORIES.
        higher_is_better (bool): the direction of a better map.
        needs (tuple): what it takes beyond the maps: "mask" (a lesion mask), "model" (it runs
            the model), "explain" (it explains other images or classes).
        source (str): the paper.
        format (str): how the table prints it.
        reported (bool): a column of cams.report (False: a cams.metrics call only, its answer
            not one number per method).
    """
    key: str
    header: str
    category: str
    higher_is_better: bool
    needs: tuple
    source: str
    format: str = "{:.3f}"
    reported: bool = True


METRICS = (
    Metric("pointing_game", "pointing ↑", "localisation", True, ("mask",),
           "Zhang et al. 2018"),
    Metric("energy_in_mask", "energy ↑", "localisation", True, ("mask",),
           "Wang et al. 2020 (relevance mass, Arras et al. 2022)"),
    Metric("rank_accuracy", "rank acc. ↑", "localisation", True, ("mask",),
           "Arras et al. 2022"),
    Metric("mask_auc", "AUC ↑", "localisation", True, ("mask",), "Fawcett 2006"),
    Metric("deletion_auc", "deletion ↓", "faithfulness", False, ("model",),
           "Petsiuk et al. 2018"),
    Metric("insertion_auc", "insertion ↑", "faithfulness", True, ("model",),
           "Petsiuk et al. 2018"),
    Metric("road_gap", "ROAD gap ↑", "faithfulness", True, ("model",), "Rong et al. 2022"),
    Metric("average_drop_pct", "avg drop % ↓", "faithfulness", False, ("model",),
           "Chattopadhay et al. 2018", "{:.1f}"),
    Metric("increase_pct", "increase % ↑", "faithfulness", True, ("model",),
           "Chattopadhay et al. 2018", "{:.1f}"),
    Metric("max_sensitivity", "max-sens. ↓", "robustness", False, ("model", "explain"),
           "Yeh et al. 2019"),
    Metric("local_lipschitz", "Lipschitz ↓", "robustness", False, ("model", "explain"),
           "Alvarez-Melis & Jaakkola 2018"),
    Metric("sparseness", "Gini ↑", "complexity", True, (), "Chalasani et al. 2020"),
    Metric("entropy", "entropy ↓", "complexity", False, (), "Bhatt et al. 2020"),
    Metric("randomization_rho", "random. ρ ↓", "randomisation", False, ("model", "explain"),
           "Adebayo et al. 2018", "{:.2f}"),
    Metric("random_logit_rho", "logit ρ ↓", "randomisation", False, ("model", "explain"),
           "Sixt et al. 2020", "{:.2f}"),
    Metric("cascading_randomization", "cascade ρ ↓", "randomisation", False,
           ("model", "explain"), "Adebayo et al. 2018", "{:.2f}", reported=False),
    Metric("independent_randomization", "independent ρ ↓", "randomisation", False,
           ("model", "explain"), "Adebayo et al. 2018", "{:.2f}", reported=False),
    Metric("smooth_randomization_check", "smooth ρ ↓", "randomisation", False,
           ("model", "explain"), "Hedström et al. 2023", "{:.2f}", reported=False),
)
BY_KEY = {m.key: m for m in METRICS}


def described():
    """{key: the metric's metadata as a dict}, for the report's JSON."""
    return {m.key: {k: v for k, v in asdict(m).items() if k not in ("key", "format")}
            for m in METRICS}


def categories_line(keys):
    """One line naming the table's metrics by category, in CATEGORIES' order."""
    parts = []
    for category in CATEGORIES:
        headers = [m.header.rsplit(" ", 1)[0] for m in METRICS
                   if m.category == category and m.key in keys]
        if headers:
            parts.append(f"{category}: {', '.join(headers)}")
    return "By category — " + "; ".join(parts) + "."
