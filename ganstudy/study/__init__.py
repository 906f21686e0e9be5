"""A study as data: the study file read into a frozen StudySpec (spec, study_sections), and
the one writer and the one loader of a study folder's tables (results). No torch, no Ray."""
