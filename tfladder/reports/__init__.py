"""What people read after grading: feedback pages (students), the report (instructors) and the
executed reference solutions (self-learners).
"""
