"""The learner: what the SGQN paper defines, and nothing about runs.

Contents:
    algorithms       the algorithm table: one row per ``--algo``, what it adds to SAC.
    sac              the SAC core every algorithm starts from (acting, the update, checkpoints).
    svea, soda       the baselines' additions (SVEA's augmented critic, SODA's auxiliary loss).
    consistency      SGQN's L_C (Q of the saliency-masked observation matches Q of the obs).
    attribution_ssl  SGQN's attribution head, trained to predict the saliency mask.
    factory          ``build_agent``: SAC plus the additions of a row.
    interfaces       what the agent takes and gives: Batch, Sampler, OverlaySource, SaliencyMaps.
    networks         encoder, critic, actor, attribution head, SODA's MLPs.
    losses           the losses as pure functions.
    saliency         guided backprop, the binarized mask M_rho, masked observations.
    augment          random shift, crop, overlay and convolution, batched on the device.

Import from the modules: ``from sgqn.agent.factory import build_agent``.
"""
