"""Can a heatmap be trusted? Localisation against known masks, faithfulness by perturbation
(deletion/insertion, average drop/increase, ROAD), robustness to small perturbations,
complexity, and the randomisation checks (model parameters, random logit). catalog.METRICS says
each one's category, direction and needs."""
from cams.metrics.confidence import class_probability, class_probability_of_blocks
from cams.metrics.complexity import entropy, sparseness
from cams.metrics.localization import energy_in_mask, mask_auc, pointing_game, rank_accuracy
from cams.metrics.mprt import (cascading_randomization, independent_randomization,
                               smooth_randomization_check)
from cams.metrics.perturbation import (confidence_change, deletion_insertion,
                                       reference_probabilities)
from cams.metrics.randomization import randomization_check, randomized_copy, rank_correlation
from cams.metrics.random_logit import random_logit
from cams.metrics.road import impute, road
from cams.metrics.robustness import local_lipschitz, max_sensitivity

__all__ = ["class_probability", "class_probability_of_blocks", "energy_in_mask", "pointing_game",
           "confidence_change", "deletion_insertion", "randomization_check", "randomized_copy",
           "rank_correlation", "reference_probabilities", "impute", "road", "entropy",
           "sparseness", "mask_auc", "rank_accuracy", "random_logit", "local_lipschitz",
           "max_sensitivity", "cascading_randomization", "independent_randomization",
           "smooth_randomization_check"]
