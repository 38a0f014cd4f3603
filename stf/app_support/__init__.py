"""What the Streamlit pages need that is not Streamlit: finding models, bundles and data sets, uploads.

* :mod:`.discovery`: checkpoints under ``assets/`` and ``$STF_RUNS_DIR``; the evaluation bundles of a
  checkpoint (``<name>.eval/`` next to ``<name>.pt``, sibling bundle folders, finished runs); data sets
  (converted stores in ``$STF_CACHE_DIR`` and known ``FORMAT:PATH`` folders under ``$STF_DATA_ROOT``);
  the filterable sample table of a bundle; a bundle as a zip.
* :mod:`.upload`: an uploaded file -> temporary file -> :mod:`stf.data` reader -> Samples, with a size
  limit and format detection.

No Streamlit import here: the pages cache these results and lay them out.
"""
