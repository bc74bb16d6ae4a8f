"""``presend calibrate``: real outcomes of a send held against the forecast, and fed back.

``outcome`` is the one record every log or export format becomes; ``parsers`` read the
formats; ``join`` settles each address's final outcome and pairs it with its forecast row;
``score`` counts how often the forecast was right; ``report`` and ``run`` write the outputs;
``suppress`` keeps the real bounces in the verdict cache for the next ``clean``.
"""
