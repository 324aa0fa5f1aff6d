"""Can a heatmap be trusted? Localization against known masks, faithfulness by perturbation
(deletion/insertion, average drop/increase, ROAD) and the randomization sanity check."""
from cams.metrics.confidence import class_probability, class_probability_of_blocks
from cams.metrics.localization import energy_in_mask, pointing_game
from cams.metrics.perturbation import (confidence_change, deletion_insertion,
                                       reference_probabilities)
from cams.metrics.randomization import randomization_check, randomized_copy, rank_correlation
from cams.metrics.road import impute, road

__all__ = ["class_probability", "class_probability_of_blocks", "energy_in_mask", "pointing_game",
           "confidence_change", "deletion_insertion", "randomization_check", "randomized_copy",
           "rank_correlation", "reference_probabilities", "impute", "road"]
